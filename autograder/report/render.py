"""The Jinja environment of the pages: the templates are the files of ``templates/`` in this
package (installed with it as package data), and ``style.css`` there is inlined into every page.

Autoescaping is on for every template: the pages quote untrusted text (student names are folder
names, messages quote the student's values, output is what the student printed). Only
:class:`markupsafe.Markup` passes unescaped: the stylesheet, the one script (``sortable.js``, which
sorts the class report's similarity tables and is allowed by its hash in that page's
Content-Security-Policy), and the fragments of :mod:`autograder.report.fragments`.
``StrictUndefined``: a name missing from a page's context is an error, not an empty string."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from autograder.report.fragments import render_details, render_value
from autograder.report.text import num

STYLESHEET = "style.css"
SORTABLE = "sortable.js"  # the one script a page may hold: the class report's sortable tables


def script_hash(js: str) -> str:
    """The base64 SHA-256 of an inline script, as a Content-Security-Policy ``script-src`` names it:
    the page allows that exact script and nothing else."""
    return base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode("ascii")


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("autograder.report", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    css, _, _ = env.loader.get_source(env, STYLESHEET)  # a file, not a template: its braces are CSS
    js, _, _ = env.loader.get_source(env, SORTABLE)
    env.globals.update(num=num, value=render_value, details=render_details, css=Markup(css),
                       sortable_js=Markup(js), sortable_js_csp=Markup(f"'sha256-{script_hash(js)}'"))
    return env


ENV = _environment()


def render(template: str, **context: Any) -> str:
    """The page ``templates/<template>`` rendered with ``context``."""
    return ENV.get_template(template).render(**context)
