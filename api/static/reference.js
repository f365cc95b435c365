/* The API reference page: Swagger UI (vendored) reading this server's OpenAPI document.
   A file of its own because the app's CSP allows no inline script. */
(function () {
  "use strict";
  var node = document.getElementById("reference");
  window.SwaggerUIBundle({
    url: node.getAttribute("data-spec-url"),
    domNode: node,
    deepLinking: true,
    // The online validator badge would call another site; the suite validates the document.
    validatorUrl: null,
    docExpansion: "list",
    defaultModelsExpandDepth: 0
  });
})();
