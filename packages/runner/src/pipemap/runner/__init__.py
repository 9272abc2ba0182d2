"""pipemap.runner (work in progress)."""

__all__: list[str] = []
