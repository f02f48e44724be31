#!/usr/bin/python3
"""A small GTK window that offers files as a drag source (text/uri-list).

The end-to-end test starts it beside the app under Xvfb and moves the
pointer with xdotool from this window into the app's, which makes a real
XDND drop: the same path a file manager's drop takes.

Usage: drag_source.py X Y FILE...
"""
import sys
from pathlib import Path

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, Gtk  # noqa: E402

x, y = int(sys.argv[1]), int(sys.argv[2])
uris = [Path(p).resolve().as_uri() for p in sys.argv[3:]]

window = Gtk.Window(title="segue-e2e-drag-source")
window.set_default_size(300, 200)
window.move(x, y)
box = Gtk.EventBox()
label = Gtk.Label(label="drag me")
box.add(label)
window.add(box)

targets = Gtk.TargetList.new([])
targets.add_uri_targets(0)
box.drag_source_set(Gdk.ModifierType.BUTTON1_MASK, [], Gdk.DragAction.COPY)
box.drag_source_set_target_list(targets)


def on_get(_widget, _context, data, _info, _time):
    data.set_uris(uris)


def on_end(_widget, _context):
    Gtk.main_quit()


box.connect("drag-data-get", on_get)
box.connect("drag-end", on_end)
window.connect("destroy", Gtk.main_quit)
window.show_all()
print("ready", flush=True)
Gtk.main()
