"""The front desk side: the desk's pure state, its presenter, the controller loop, the tray menu and composition."""
