"""A citizen takes a ticket and an official calls it: the API answers end to end."""


def test_a_general_ticket_is_issued_and_called_at_a_desk(api):
    ticket = api.issue("A")
    assert ticket["code"] == "A-001"
    assert ticket["status"] == "waiting"
    api.take_desk("ana")
    r = api.next("ana")
    assert r.status_code == 200
    assert r.get_json()["code"] == "A-001"
    assert r.get_json()["desk"] == "1"
