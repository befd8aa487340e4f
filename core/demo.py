"""Demo sites and accounts (SPEC §10), importable without Django set up (the launcher
prints them)."""

from core.roles import Role

SITES = [
    ("001", "Beijing Tiantan Hospital", "Asia/Shanghai", 120),
    ("002", "Xuanwu Hospital", "Asia/Shanghai", 100),
    ("003", "West China Hospital", "Asia/Shanghai", 92),
]

# username, first name, last name, role, site code (None = all sites)
ACCOUNTS = [
    ("coord001", "Li", "Na", Role.COORDINATOR, "001"),
    ("inv001", "Wang", "Wei", Role.INVESTIGATOR, "001"),
    ("assessor001", "Zhang", "Min", Role.ASSESSOR, "001"),
    ("coord002", "Liu", "Yang", Role.COORDINATOR, "002"),
    ("inv002", "Chen", "Jie", Role.INVESTIGATOR, "002"),
    ("monitor", "Zhao", "Lei", Role.MONITOR, None),
    ("datamanager", "Sun", "Hui", Role.DATA_MANAGER, None),
    ("statistician", "Zhou", "Qiang", Role.STATISTICIAN, None),
    ("admin", "Wu", "Fang", Role.ADMIN, None),
]
