"""The plugin machinery: the plugin API's types (`types.py`, `schema.py`), loading
(`loader.py`), the loaded set (`registry.py`), one run's tools and agents
(`run_tools.py`). Plugins import `llmos.plugins`, which re-exports what they need."""
