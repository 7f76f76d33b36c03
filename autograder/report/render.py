"""The Jinja environment of the pages: the templates are the files of ``templates/`` in this
package (installed with it as package data), and ``style.css`` there is inlined into every page.

Autoescaping is on for every template: the pages quote untrusted text (student names are folder
names, messages quote the student's values, output is what the student printed). Only
:class:`markupsafe.Markup` passes unescaped: the stylesheet, and the fragments of
:mod:`autograder.report.fragments`. ``StrictUndefined``: a name missing from a page's context is
an error, not an empty string."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from autograder.report.fragments import render_details, render_value
from autograder.report.text import num

STYLESHEET = "style.css"


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("autograder.report", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    css, _, _ = env.loader.get_source(env, STYLESHEET)  # a file, not a template: its braces are CSS
    env.globals.update(num=num, value=render_value, details=render_details, css=Markup(css))
    return env


ENV = _environment()


def render(template: str, **context: Any) -> str:
    """The page ``templates/<template>`` rendered with ``context``."""
    return ENV.get_template(template).render(**context)
