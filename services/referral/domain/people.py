"""The rules about who a young person is (which cases share a person, what erasure leaves), and their errors.

The person vault answers the questions (is this person known? erased?); these errors say no in the domain's
words, each derived from a kind in `shared.errors` so it becomes the same HTTP answer or district reason
wherever it is raised.
"""

from __future__ import annotations

from services.referral.domain.case import CaseConflict
from shared.errors import Gone, NotFound, Refused


class CaseNotFound(NotFound):
    """No case has that id."""


class UnknownPerson(NotFound):
    """The vault knows no young person by that person_ref."""


class PersonToLinkUnknown(Refused):
    """The person_ref a case is to be linked to names no young person the vault knows."""


class PersonalDataNeeded(Refused):
    """The change needs the young person's details and the vault no longer holds them."""


class PersonalDataErased(Gone):
    """The young person's personal data was erased; it cannot be read or used."""


class CaseAlreadyLinked(CaseConflict):
    """A linked case is unlinked before it is linked to someone else."""


class PersonHasOtherCases(CaseConflict):
    """Linking this case elsewhere would leave the other cases of its young person behind."""


class PersonWasErased(CaseConflict):
    """A person whose personal data was erased cannot take on new cases by linking."""
