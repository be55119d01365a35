"""Member names from the database in the tray menu (agent/adapters/tray_pystray.py): shown literally on every
backend. pystray runs with its ``dummy`` backend here; the Windows label rule (``&`` = mnemonic) is checked by
giving the adapter the ``win32`` backend name, the one thing this machine cannot run."""

from __future__ import annotations

import desk_rig  # noqa: F401 (imports pystray once with its dummy backend and restores the environment)

from agent.adapters.choose import icon_paths
from agent.adapters.tray_pystray import MENU_LABEL_MAX, PystrayTray, menu_label
from agent.core.tray_model import MenuItemSpec


def test_menu_labels_show_names_literally() -> None:
    assert menu_label("10:02  Pérez & Hijos", "win32") == "10:02  Pérez && Hijos"  # one & shown, no mnemonic
    assert menu_label("10:02  Pérez & Hijos", "gtk") == "10:02  Pérez & Hijos"
    assert menu_label("Ana\tLópez\nSegunda\x1b[2J\u009b", "win32") == "Ana López Segunda [2J "
    long = menu_label("N" * 4000, "win32")
    assert len(long) == MENU_LABEL_MAX and long.endswith("…")


def test_the_recent_list_item_reaches_pystray_escaped() -> None:
    hostile = "10:02  Smith & Wesson\tDeudor" + "x" * 500
    tray = PystrayTray("AvisoTest", "Aviso", icon_paths(), lambda: [MenuItemSpec(text=hostile, key="recent_0")])
    tray.backend = "win32"  # what pystray reports on Windows
    (item,) = list(tray.pystray_menu())
    assert item.text.startswith("10:02  Smith && Wesson Deudor")
    assert len(item.text.replace("&&", "&")) == MENU_LABEL_MAX  # as shown: 100 characters
    tray.backend = "dummy"
    (item,) = list(tray.pystray_menu())
    assert item.text.startswith("10:02  Smith & Wesson Deudor")
