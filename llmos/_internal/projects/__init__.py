"""Projects: named working contexts inside a workspace (`store.py`: their folders and
project.yaml) and what a run inside one gets (`scope.py`: its settings, its tools, plugins).
"""

from llmos._internal.projects.store import (
    Project,
    create_project,
    list_projects,
    load_project,
    open_project,
    remove_project,
)

__all__ = [
    "Project",
    "create_project",
    "list_projects",
    "load_project",
    "open_project",
    "remove_project",
]
