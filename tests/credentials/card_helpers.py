from credentials import services
from credentials.card import Geometry
from otpusers.audit import Actor
from tests.factories import OrganizationFactory, OtpUserFactory

ACTOR = Actor.system("tests")


def card_holder(**policy):
    organization = OrganizationFactory(ext_id=None)
    organization.ext_id = f"client-{organization.pk}"
    organization.save()
    person = OtpUserFactory(organization=organization, ext_id=f"user-{organization.pk}")
    if policy:
        default = services.card_policy_default(organization=organization)
        for name, value in policy.items():
            setattr(default, name, value)
        default.save()
    return person


def answer_for(card, challenge: str) -> str:
    geometry = Geometry(card.rows, card.cols, card.coordinate_card_format)
    return services.card_cells(card)[geometry.challenge_index(challenge)]


def wrong_answer_for(card, challenge: str) -> str:
    right = answer_for(card, challenge)
    return "".join("1" if digit == "0" else "0" for digit in right)
