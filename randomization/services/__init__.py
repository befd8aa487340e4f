"""Writes of the randomization app, one module per concept:

- `lists`: allocation lists and the trial configuration (statistician only);
- `randomizing`: randomizing a confirmed screening (`subject_randomize`);
- `notices`: stratum-supply alerts and the allocation confirmation e-mail;
- `breaches`: blinding-breach reports;
- `simulations`: the statistician's simulation of the method (Celery task, progress, result).
"""

from randomization.services.breaches import blinding_breach_report
from randomization.services.lists import (
    allocation_list_generate,
    allocation_list_import,
    allocation_list_set_active,
    trial_config_update,
)
from randomization.services.notices import (
    ALERT_KEY_PREFIXES,
    allocation_confirmation_send,
    statisticians,
)
from randomization.services.randomizing import (
    randomize_locked,
    screening_readiness_problem,
    subject_randomize,
)
from randomization.services.simulations import (
    simulation_execute,
    simulation_parameter_problems,
    simulation_start,
)

__all__ = [
    "ALERT_KEY_PREFIXES", "allocation_confirmation_send", "allocation_list_generate", "allocation_list_import",
    "allocation_list_set_active", "blinding_breach_report", "randomize_locked", "screening_readiness_problem",
    "simulation_execute", "simulation_parameter_problems", "simulation_start", "statisticians", "subject_randomize", "trial_config_update",
]
