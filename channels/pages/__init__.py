"""Public pages: 办事指南 for a service item and pre-filled form downloads."""
