"""pipemap.storage (work in progress)."""

__all__: list[str] = []
