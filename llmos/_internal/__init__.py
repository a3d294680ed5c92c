"""llmos's internals: everything but the public API (`llmos`, `llmos.plugins`).

Nothing here is a promise: any module under `llmos._internal` may change or go in any
release (ARCHITECTURE.md, "The public API")."""
