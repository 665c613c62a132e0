"""Live widgets that never show a learner their Python repr.

A widget is drawn by JupyterLab's widget manager. Where there is none (a notebook saved and
reopened, a notebook converted to HTML, a console) Jupyter shows the output's plain-text form
instead, which for an ipywidget is its repr: ``VBox(children=(HTML(value='<svg ...``. Every
live view of talklab therefore displays itself through :func:`bundle`, with a sentence of its
own as the plain text.
"""

from __future__ import annotations

from typing import Any


def bundle(widget: Any, text: str) -> dict[str, Any]:
    """``widget``'s display data, with ``text`` as its plain-text form."""
    data: dict[str, Any] = dict(widget._repr_mimebundle_())
    data["text/plain"] = text
    return data


def show(widget: Any, text: str) -> None:
    """Display ``widget`` live, and as ``text`` where a widget cannot be drawn."""
    from IPython.display import display
    display(bundle(widget, text), raw=True)


class Live:
    """A widget to return from a function (the cell's result), shown as :func:`show` does."""

    def __init__(self, widget: Any, text: str) -> None:
        self.widget, self.text = widget, text

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return bundle(self.widget, self.text)

    def __repr__(self) -> str:
        return self.text
