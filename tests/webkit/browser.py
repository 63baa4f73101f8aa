#!/usr/bin/python3
"""The WebKitGTK browser the WebKit tests drive: WebKitWebDriver starts it (as
`webkitgtk:browserOptions.binary`) with a profile directory as its first argument.

The stock WebKitGTK browsers do not fit: MiniBrowser's automation profile is ephemeral (a Blob cannot be
stored in IndexedDB there, and nothing survives a relaunch) and Epiphany refuses automation with a
profile. This one keeps every website's data in the directory it is given, so a relaunch on the same
directory finds the queue, as Safari does after a restart.

Debian's python3 with python3-gi and gir1.2-webkit2-4.1 (what `cargo xtask setup` installs)."""
import ctypes
import os
import signal
import sys

import gi

gi.require_version("WebKit2", "4.1")
gi.require_version("Gtk", "3.0")
from gi.repository import Gtk, WebKit2  # noqa: E402

# Gone with the driver that started it, however the driver ends (PR_SET_PDEATHSIG).
ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)

profile = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
if profile is None:
    sys.exit("usage: browser.py PROFILE_DIR (the directory every website's data lives in)")

# A test that kills the browser mid-upload (as a crash or the system would) finds its PID here.
with open(os.path.join(profile, "browser.pid"), "w") as pid_file:
    pid_file.write(str(os.getpid()))

manager = WebKit2.WebsiteDataManager(base_data_directory=profile, base_cache_directory=profile + "/cache")
context = WebKit2.WebContext.new_with_website_data_manager(manager)
context.set_automation_allowed(True)


def create_view(_session):
    view = WebKit2.WebView(web_context=context, is_controlled_by_automation=True)
    window = Gtk.Window()
    window.set_default_size(1024, 768)
    window.add(view)
    view.connect("close", lambda _view: window.destroy())
    window.show_all()
    return view


def automation_started(_context, session):
    info = WebKit2.ApplicationInfo()
    info.set_name("ferry-webkit")
    session.set_application_info(info)
    session.connect("create-web-view", create_view)


context.connect("automation-started", automation_started)
Gtk.main()
