"""A form generated from the run config's JSON schema, so it follows the engine's fields and limits.

integer -> QSpinBox (schema bounds), number -> QLineEdit checked against the bounds, boolean ->
QCheckBox, enum -> QComboBox, optional (anyOf with null) -> QLineEdit where empty means None,
string -> QLineEdit. Invalid fields get a red border and a tooltip with the reason.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QGridLayout, QLabel, QLineEdit, QSpinBox, QWidget

INT_LIMIT = 2**31 - 1
INVALID_STYLE = "border: 1px solid #d62728; background: #fde2e1;"


@dataclass(frozen=True)
class FieldSpec:
    """One schema property reduced to what a form needs."""

    name: str
    title: str
    kind: str  # integer | number | boolean | enum | string
    nullable: bool
    description: str
    default: Any
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None

    def check(self, value: Any) -> str | None:
        """Why `value` breaks the schema's bounds, or None."""
        if value is None or self.kind not in ("integer", "number"):
            return None
        if self.minimum is not None and value < self.minimum:
            return f"must be ≥ {self.minimum:g}"
        if self.maximum is not None and value > self.maximum:
            return f"must be ≤ {self.maximum:g}"
        if self.exclusive_minimum is not None and value <= self.exclusive_minimum:
            return f"must be > {self.exclusive_minimum:g}"
        if self.exclusive_maximum is not None and value >= self.exclusive_maximum:
            return f"must be < {self.exclusive_maximum:g}"
        return None

    def parse(self, text: str) -> Any:
        """A typed-in value; raises ValueError with the reason."""
        text = text.strip()
        if not text:
            if self.nullable:
                return None
            raise ValueError("a value is required")
        if self.kind == "integer":
            try:
                return int(text)
            except ValueError:
                raise ValueError(f"not a whole number: {text!r}") from None
        if self.kind == "number":
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"not a number: {text!r}") from None
            if not math.isfinite(value):
                raise ValueError("must be a finite number")
            return value
        return text


def field_specs(schema: dict[str, Any]) -> list[FieldSpec]:
    """The fields of a pydantic JSON schema, in declaration order."""
    defs = schema.get("$defs", {})
    specs = []
    for name, prop in schema.get("properties", {}).items():
        prop = _deref(prop, defs)
        options = [_deref(o, defs) for o in prop.get("anyOf", [prop])]
        concrete = [o for o in options if o.get("type") != "null"]
        base = {**(concrete[0] if concrete else {}), **{k: v for k, v in prop.items() if k != "anyOf"}}
        choices = tuple(base.get("enum", ())) or ((base["const"],) if "const" in base else ())
        kind = "enum" if choices else base.get("type", "string")
        specs.append(FieldSpec(
            name=name, title=base.get("title", name), kind=kind if kind in ("integer", "number", "boolean", "enum")
            else "string", nullable=len(concrete) < len(options), description=base.get("description", ""),
            default=base.get("default"), choices=choices, minimum=base.get("minimum"), maximum=base.get("maximum"),
            exclusive_minimum=base.get("exclusiveMinimum"), exclusive_maximum=base.get("exclusiveMaximum")))
    return specs


def _deref(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = prop.get("$ref", "")
    return {**defs.get(ref.rsplit("/", 1)[-1], {}), **{k: v for k, v in prop.items() if k != "$ref"}} if ref else prop


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


class FieldEditor:
    """The widget of one field, with typed get/set and an inline error mark."""

    def __init__(self, spec: FieldSpec, on_change: Callable[[], None]) -> None:
        self.spec = spec
        self.widget = self._make_widget(on_change)
        self.error: str | None = None
        self._tooltip = spec.description + _range_text(spec)
        self.widget.setToolTip(self._tooltip)
        self.set_value(spec.default)

    def _make_widget(self, on_change: Callable[[], None]) -> QWidget:
        spec = self.spec
        if spec.kind == "boolean" and not spec.nullable:
            box = QCheckBox()
            box.toggled.connect(lambda *_: on_change())
            return box
        if spec.kind == "enum" and not spec.nullable:
            combo = QComboBox()
            for choice in spec.choices:
                combo.addItem(str(choice), choice)
            combo.currentIndexChanged.connect(lambda *_: on_change())
            return combo
        if spec.kind == "integer" and not spec.nullable:
            spin = QSpinBox()
            low = spec.minimum if spec.minimum is not None else (
                spec.exclusive_minimum + 1 if spec.exclusive_minimum is not None else -INT_LIMIT)
            high = spec.maximum if spec.maximum is not None else (
                spec.exclusive_maximum - 1 if spec.exclusive_maximum is not None else INT_LIMIT)
            spin.setRange(int(max(low, -INT_LIMIT)), int(min(high, INT_LIMIT)))
            spin.valueChanged.connect(lambda *_: on_change())
            return spin
        edit = QLineEdit()
        if spec.nullable:
            edit.setPlaceholderText("empty = none")
        edit.textChanged.connect(lambda *_: on_change())
        return edit

    def value(self) -> Any:
        """The typed value; raises ValueError when the text does not parse or breaks a bound."""
        w = self.widget
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QComboBox):
            return w.currentData()
        if isinstance(w, QSpinBox):
            value = w.value()
        else:
            value = self.spec.parse(w.text())
        reason = self.spec.check(value)
        if reason:
            raise ValueError(reason)
        return value

    def set_value(self, value: Any) -> None:
        w = self.widget
        if isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QComboBox):
            w.setCurrentIndex(max(0, w.findData(value)))
        elif isinstance(w, QSpinBox):
            w.setValue(int(value) if value is not None else 0)
        else:
            w.setText(_format(value))

    def set_error(self, reason: str | None) -> None:
        """Mark the field invalid (red border, reason in the tooltip) or clear the mark."""
        self.error = reason
        self.widget.setStyleSheet(INVALID_STYLE if reason else "")
        self.widget.setToolTip(f"⚠ {reason}\n\n{self._tooltip}" if reason else self._tooltip)


def _range_text(spec: FieldSpec) -> str:
    parts = []
    if spec.minimum is not None:
        parts.append(f"≥ {spec.minimum:g}")
    if spec.exclusive_minimum is not None:
        parts.append(f"> {spec.exclusive_minimum:g}")
    if spec.maximum is not None:
        parts.append(f"≤ {spec.maximum:g}")
    if spec.exclusive_maximum is not None:
        parts.append(f"< {spec.exclusive_maximum:g}")
    return f" ({', '.join(parts)})" if parts else ""


class ConfigForm(QWidget):
    """Editors for every schema field except `exclude`, laid out in two columns."""

    changed = Signal()

    def __init__(self, schema: dict[str, Any], exclude: tuple[str, ...] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editors: dict[str, FieldEditor] = {}
        grid = QGridLayout(self)
        specs = [s for s in field_specs(schema) if s.name not in exclude]
        rows = (len(specs) + 1) // 2
        for i, spec in enumerate(specs):
            editor = FieldEditor(spec, self.changed.emit)
            self.editors[spec.name] = editor
            label = QLabel(spec.name)
            label.setToolTip(spec.description)
            label.setBuddy(editor.widget)
            row, col = i % rows, 2 * (i // rows)
            grid.addWidget(label, row, col)
            grid.addWidget(editor.widget, row, col + 1)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)

    def set_values(self, values: dict[str, Any]) -> None:
        """Show `values` (fields without a value keep theirs)."""
        for name, value in values.items():
            if name in self.editors:
                self.editors[name].set_value(value)

    def values(self) -> tuple[dict[str, Any], dict[str, str]]:
        """(typed values of the valid fields, reason per invalid field)."""
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name, editor in self.editors.items():
            try:
                values[name] = editor.value()
            except ValueError as err:
                errors[name] = str(err)
        return values, errors

    def mark(self, errors: dict[str, str]) -> None:
        for name, editor in self.editors.items():
            editor.set_error(errors.get(name))
