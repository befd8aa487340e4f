"""REST ODM of one subject (validated against the official ODM 1.3.2 schema in ../shared/), and
no existence oracle: a blinded token asking for an arm-revealing field, form or instrument gets
exactly the answer given for one that does not exist."""

import json

import pytest
from django.test import Client
from lxml import etree

from tests.api.conftest import ARM_TEXTS
from tests.exports.test_submission import SHARED_ODM_XSD

pytestmark = pytest.mark.django_db
ODM = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}


def _client(token):
    return Client(HTTP_AUTHORIZATION=f"Token {token}")


def _odm(token, number):
    response = _client(token).get(f"/api/v1/subjects/{number}/odm/")
    return response


def _valid(body: bytes):
    schema = etree.XMLSchema(etree.parse(str(SHARED_ODM_XSD)))
    doc = etree.fromstring(body)
    schema.assertValid(doc)
    return doc


def test_subject_odm_is_valid_and_unblinded_only_for_the_statistician(study, token_for):
    response = _odm(token_for("statistician"), "001-0001")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/xml")
    doc = _valid(response.content)
    assert doc.xpath("//odm:SubjectData/@SubjectKey", namespaces=ODM) == ["001-0001"]
    groups = set(doc.xpath("//odm:ItemGroupData/@ItemGroupOID", namespaces=ODM))
    assert {"IG.RANDOMIZATION", "IG.V1_PROCEDURE", "IG.V5_DAY90"} <= groups
    assert doc.xpath("//odm:ItemData[@ItemOID='I.V5_DAY90.MRS']/@Value", namespaces=ODM)[-1] == "2"
    assert doc.xpath("//odm:ItemData[@ItemOID='I.RANDOMIZATION.ARM']/@Value", namespaces=ODM)

    blinded = _odm(token_for("datamanager"), "001-0001")
    assert blinded.status_code == 200
    doc = _valid(blinded.content)
    groups = set(doc.xpath("//odm:ItemGroupData/@ItemGroupOID", namespaces=ODM))
    assert "IG.V5_DAY90" in groups and "IG.V1_PROCEDURE" not in groups
    assert not doc.xpath("//odm:ItemGroupDef[@OID='IG.RANDOMIZATION'] | //odm:ItemGroupData"
                         "[@ItemGroupOID='IG.RANDOMIZATION']", namespaces=ODM)
    text = blinded.content.decode()
    assert not any(t in text for t in ARM_TEXTS)


def test_subject_odm_follows_form_access_and_site_scope(study, token_for):
    doc = _valid(_odm(token_for("assessor001"), "001-0001").content)
    # the blinded assessor reads the day-90 form only
    assert set(doc.xpath("//odm:FormData/@FormOID", namespaces=ODM)) == {"F.V5_DAY90"}
    assert _odm(token_for("coord002"), "001-0001").status_code == 404
    assert _odm(token_for("coord002"), "002-0001").status_code == 200


def _redcap(token, **data):
    r = Client().post("/api/", {"token": token, "format": "json", **data})
    body = b"".join(r.streaming_content) if r.streaming else r.content
    return r.status_code, body.decode()


def _same_refusal(answer_real, answer_fake, real: str, fake: str):
    """Both refused alike: the same status, and the same text once the names are swapped."""
    assert answer_real[0] == answer_fake[0] and answer_real[0] >= 400
    assert answer_real[1].replace(real, "X") == answer_fake[1].replace(fake, "X")


@pytest.mark.parametrize("username", ["datamanager", "assessor001"])
def test_blinded_token_gets_no_existence_oracle_for_arm_items(study, token_for, username):
    token = token_for(username)
    cases = [
        ({"content": "record", "fields": "final_etici"}, {"content": "record", "fields": "final_etixi"},
         "final_etici", "final_etixi"),
        ({"content": "record", "forms": "randomization"}, {"content": "record", "forms": "randomizatiom"},
         "randomization", "randomizatiom"),
        ({"content": "record", "forms": "v1_procedure"}, {"content": "record", "forms": "v1_procedurx"},
         "v1_procedure", "v1_procedurx"),
        ({"content": "metadata", "fields": "rand_arm"}, {"content": "metadata", "fields": "rand_arx"},
         "rand_arm", "rand_arx"),
        ({"content": "exportFieldNames", "field": "rand_arm"}, {"content": "exportFieldNames", "field": "rand_arx"},
         "rand_arm", "rand_arx"),
        ({"content": "record", "fields": "randomization_complete"},
         {"content": "record", "fields": "randomizatiom_complete"}, "randomization", "randomizatiom"),
    ]
    for real, fake, real_name, fake_name in cases:
        _same_refusal(_redcap(token, **real), _redcap(token, **fake), real_name, fake_name)
    # an import naming an arm-revealing field is refused as for an unknown field
    row = {"subject_number": "001-0001", "redcap_event_name": "v1_arm_1", "final_etici": "2b"}
    fake_row = {"subject_number": "001-0001", "redcap_event_name": "v1_arm_1", "final_etixi": "2b"}
    _same_refusal(_redcap(token, content="record", data=json.dumps([row]), reason="r"),
                  _redcap(token, content="record", data=json.dumps([fake_row]), reason="r"),
                  "final_etici", "final_etixi")
    # REST: the procedure form and the randomization answer as a form that does not exist
    c = _client(token)
    for method in ("get", "patch"):
        real = getattr(c, method)("/api/v1/subjects/001-0001/forms/v1_procedure/", {}, content_type="application/json")
        fake = getattr(c, method)("/api/v1/subjects/001-0001/forms/v1_procedurx/", {}, content_type="application/json")
        rand = getattr(c, method)("/api/v1/subjects/001-0001/forms/randomization/", {}, content_type="application/json")
        assert real.status_code == fake.status_code == rand.status_code and real.status_code in (400, 404)
        assert real.json() == fake.json() == rand.json()
