"""pipemap.io (work in progress)."""

__all__: list[str] = []
