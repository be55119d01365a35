"""Windows notifier: WinRT toast notifications through ``Windows-Toasts``, under the app's own AUMID. Thin.

* **AUMID** — an unpackaged desktop app must name an Application User Model ID for its toasts to show its name
  and icon. :func:`register_aumid` registers ours per user, without admin rights, the way Windows-Toasts'
  ``register_hkey_aumid`` script does: ``HKCU\\Software\\Classes\\AppUserModelId\\<AUMID>`` with the values
  ``DisplayName`` and ``IconUri`` (an ``.ico`` path). Idempotent; it runs at every start (the exe may move).
* **Content** — ``InteractableWindowsToaster`` (template ``ToastGeneric``): title, then the body lines; the member's
  photo (``Notice.photo_path``, a local file the desk resolved) as the circled app-logo image (Windows-Toasts
  refuses http images: unpackaged apps cannot show them); without a photo, ``icon_for(notice)`` (a per-status
  icon) takes that place. Text goes through Windows-Toasts' XML DOM and data
  bindings, which escape it; only characters XML cannot hold are replaced
  (:func:`agent.adapters.notifier_api.plain_text`). Warnings use the ``urgent`` scenario (may break through Focus
  Assist when the user allows "important notifications") and the ``Reminder`` sound; low-urgency notices are
  silent.
* **Click** — activating the toast calls ``on_click(notice)`` on a WinRT thread. Known limit (Windows-Toasts
  issue #12): a click on a toast that already moved to the Action Center does not reach the process.
* **Accepted** — ``show`` is True when ``show_toast`` returned without error (Windows queued the toast).

If ``windows_toasts``/WinRT cannot be imported or the toaster cannot be created (old Windows, a stripped build,
Wine), the constructor raises :class:`agent.adapters.notifier_api.NotifierUnavailable` and the app falls back to the
tray balloon (:mod:`agent.adapters.notifier_balloon`). Not win10toast: its fix for the Python ≥ 3.11 WNDPROC
crash is unmerged, it shows one toast at a time, creates a second tray icon and fails inside PyInstaller builds.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.adapters.notifier_api import NotifierBase, NotifierUnavailable, plain_text, status_icon, usable_file
from agent.core.notify_text import Notice, Sound, Urgency

log = logging.getLogger("agent.notify")

AUMID_KEY = "Software\\Classes\\AppUserModelId\\{aumid}"


def register_aumid(aumid: str, display_name: str, icon: Path | None) -> None:
    """Create or refresh ``HKCU\\Software\\Classes\\AppUserModelId\\<aumid>`` (no admin needed).

    Raises ``OSError`` when the registry cannot be written; does nothing off Windows.
    """
    if sys.platform != "win32":
        return
    import winreg

    with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, AUMID_KEY.format(aumid=aumid)) as key:
        winreg.SetValueEx(key, "DisplayName", 0, winreg.REG_SZ, display_name)
        if icon is not None and icon.is_file():
            winreg.SetValueEx(key, "IconUri", 0, winreg.REG_SZ, str(icon.resolve()))


def unregister_aumid(aumid: str) -> None:
    """Remove the AUMID key (uninstall). Missing keys are fine; does nothing off Windows."""
    if sys.platform != "win32":
        return
    import winreg

    with contextlib.suppress(FileNotFoundError):
        winreg.DeleteKey(winreg.HKEY_CURRENT_USER, AUMID_KEY.format(aumid=aumid))


class WinRtNotifier(NotifierBase):
    """See the module docstring. ``show`` returns at once; any thread."""

    name = "winrt"
    _toaster: Any
    _wt: Any
    _on_click: Callable[[Notice], None] | None
    _icon_for: Callable[[Notice], Path | None] | None

    def __init__(
        self,
        aumid: str,
        display_name: str,
        icon: Path | None = None,
        on_click: Callable[[Notice], None] | None = None,
        icon_for: Callable[[Notice], Path | None] | None = None,
    ) -> None:
        if sys.platform != "win32":
            raise NotifierUnavailable("WinRT toasts exist only on Windows")
        try:
            import windows_toasts
        except Exception as exc:  # ImportError, or WinRT's own errors on unsupported Windows versions
            raise NotifierUnavailable(f"Windows-Toasts/WinRT cannot be loaded: {exc!r}") from exc
        self._wt = windows_toasts
        try:
            register_aumid(aumid, display_name, icon)
        except OSError as exc:
            log.warning("could not register the AUMID %s in HKCU (toasts may show a generic name): %s", aumid, exc)
        try:
            self._toaster = windows_toasts.InteractableWindowsToaster(display_name, notifierAUMID=aumid)
        except Exception as exc:  # WinRT activation errors are OSError subclasses or winrt-specific
            raise NotifierUnavailable(f"WinRT toast notifier cannot be created: {exc!r}") from exc
        self._on_click = on_click
        self._icon_for = icon_for

    def _show(self, notice: Notice) -> bool:
        """Pop one toast; True once Windows took it (an error raises, reported as False by the base class)."""
        wt = self._wt
        lines = [line for line in plain_text(notice.body).split("\n") if line]
        if notice.sound is Sound.NONE:
            audio = wt.ToastAudio(silent=True)
        elif notice.sound is Sound.WARNING:
            audio = wt.ToastAudio(wt.AudioSource.Reminder)
        else:
            audio = wt.ToastAudio(wt.AudioSource.Default)
        toast = wt.Toast(
            text_fields=[plain_text(notice.title), *lines[:2]],
            audio=audio,
            scenario=wt.ToastScenario.Important if notice.urgency is Urgency.CRITICAL else wt.ToastScenario.Default,
            group="aviso-entradas",
        )
        photo = notice.photo_path
        circle = usable_file(photo)
        if not circle:  # no photo: the per-status icon takes the app-logo place (one image there per toast)
            photo = status_icon(self._icon_for, notice)
        if photo is not None and usable_file(photo):
            try:
                toast.AddImage(
                    wt.ToastDisplayImage.fromPath(photo, position=wt.ToastImagePosition.AppLogo, circleCrop=circle)
                )
            except Exception as exc:  # InvalidImageException
                log.info("toast image not shown: %s", exc)
        if self._on_click is not None:
            callback = self._on_click

            def activated(_args: object) -> None:  # a WinRT thread: the same barrier as the D-Bus click
                try:
                    callback(notice)
                except Exception:
                    log.exception("click handler failed")

            toast.on_activated = activated
        self._toaster.show_toast(toast)  # WinRT raises OSError subclasses: the base class logs, returns False
        return True
