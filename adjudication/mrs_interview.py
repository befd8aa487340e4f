"""The structured day-90 interview the central rater completes from the recording (nine
yes/no questions in the manner of the mRS-9Q), and its automatic score — no ORM.

Scoring walks the levels from the worst: the mRS is the highest level one of whose questions
is answered yes; 0 when none is (no symptoms at all).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Question:
    key: str
    level: int
    text: str


QUESTIONS = (
    Question("q1_dead", 6, _("Has the patient died?")),
    Question("q2_bedridden", 5, _("Is the patient bedridden or incontinent?")),
    Question("q3_constant_care", 5, _("Does the patient need constant nursing care and attention?")),
    Question("q4_walk_help", 4, _("Does the patient need help from another person to walk?")),
    Question("q5_bodily_help", 4, _("Does the patient need help with bodily needs (toilet, washing, dressing)?")),
    Question("q6_affairs_help", 3, _("Does the patient need help to look after own affairs (shopping, meals, money)?")),
    Question("q7_activities", 2, _("Can the patient no longer do all previous activities (work, hobbies, driving)?")),
    Question("q8_social", 2, _("Can the patient no longer fulfil all previous family or social roles?")),
    Question("q9_symptoms", 1, _("Are there any symptoms left from the stroke (weakness, speech, vision, mood)?")),
)


def score(answers: dict[str, bool]) -> int:
    """The mRS (0–6) the answers give; a missing answer counts as no."""
    levels = [q.level for q in QUESTIONS if answers.get(q.key)]
    return max(levels, default=0)
