"""NATS subjects and the JetStream streams casetrack keeps."""

from nats.js.api import StorageType

from shared.settings import SERVICES
from shared.streams import stream_configs
from shared.subjects import event_subject, stream_name, subject_of

from .builders import a_referral_made, born


def test_an_event_is_published_on_its_service_district_and_type():
    assert subject_of("referral", "thanet", "ReferralMade") == "casetrack.referral.thanet.ReferralMade"


def test_an_event_model_and_its_stored_fields_give_the_same_subject():
    event = a_referral_made(district="thanet")

    assert event_subject(event) == subject_of("referral", event.district, event.event_type)


def test_a_subject_carries_no_personal_data_or_case_identity():
    event = a_referral_made()

    subject = subject_of(event.service, event.district, event.event_type)

    for private in (event.person_ref, event.case_id, event.aggregate_id, event.event_id, born(20)):
        assert str(private) not in subject


def test_every_service_has_its_own_stream_of_its_subjects():
    configs = {config.name: config for config in stream_configs(3)}

    for service in SERVICES:
        assert configs[stream_name(service)].subjects == [f"casetrack.{service}.>"]


def test_every_stream_keeps_every_event_on_file_on_every_replica():
    for config in stream_configs(3):
        assert (config.num_replicas, config.max_age, config.storage) == (3, 0, StorageType.FILE), config.name


def test_district_ingest_and_its_answers_have_their_own_streams():
    configs = {config.name: config for config in stream_configs(3)}

    assert configs["CASETRACK_INGEST"].subjects == ["casetrack.ingest.>"]
    assert configs["CASETRACK_REJECTED"].subjects == ["casetrack.rejected.>"]
    assert configs["CASETRACK_ACCEPTED"].subjects == ["casetrack.accepted.>"]
    assert len(configs) == len(SERVICES) + 3
