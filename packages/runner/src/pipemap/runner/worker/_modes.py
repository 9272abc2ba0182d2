"""The enumerated run settings, validated once into enums (strings compare equal to them).

Kept apart from `pipemap.runner.engine._options` (which builds them from the user's arguments) so that code
running in workers can read a task's mode without importing the engine.

>>> ErrorHandling("continue") is ErrorHandling.CONTINUE, ErrorHandling.RAISE == "raise"
(True, True)
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ErrorHandling", "ResumeValidation", "SchedulingStrategy"]


class ErrorHandling(StrEnum):
    """``error_handling=``: stop at the first failing element, or store it as an error snapshot."""

    RAISE = "raise"
    CONTINUE = "continue"


class SchedulingStrategy(StrEnum):
    """``scheduling_strategy=``: function by function per generation, or as soon as inputs exist."""

    GENERATION = "generation"
    EAGER = "eager"


class ResumeValidation(StrEnum):
    """``resume_validation=``: how strictly ``resume=True`` compares inputs with the previous run."""

    AUTO = "auto"
    STRICT = "strict"
    SKIP = "skip"
