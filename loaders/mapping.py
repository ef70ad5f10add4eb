"""The declarative mapping format: which CSV files and columns become which nodes, properties and relationships.

A mapping is a YAML file (docs/loading.md describes it with a worked example). The built-in formats
(`salesforce`, `hubspot`, `maven`) are mappings in the same format shipped in `loaders/mappings/`.
Labels and relationship types must come from the graph model's enums (`graph/model.py`): that is
what lets them enter Cypher text safely. Every problem with a mapping is reported as
"<mapping file>: <path in the mapping>: <why>".
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from kgcrm.graph.errors import MappingError
from kgcrm.graph.model import ENTITY_LABELS, Label, RelType

BUILTIN_FORMATS = ("salesforce", "hubspot", "maven")

# Properties every loaded node gets from the loader itself; a mapping cannot set them.
RESERVED_PROPERTIES = frozenset({"id", "source", "source_id", "updated_at"})
_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")



def _entity_label(value: Any) -> Any:
    """Only the CRM entity labels can be loaded (not the bookkeeping ones such as SchemaMigration)."""
    if not isinstance(value, str | Label) or value not in {label.value for label in ENTITY_LABELS}:
        known = ", ".join(label.value for label in ENTITY_LABELS)
        raise ValueError(f"{value!r} is not a CRM label (one of {known})")
    return Label(value)


EntityLabel = Annotated[Label, BeforeValidator(_entity_label)]
# One label or a list of them (`to: Account` or `to: [Account, Opportunity]`), kept as a list.
EntityLabels = Annotated[
    list[EntityLabel], Field(min_length=1), BeforeValidator(lambda v: [v] if isinstance(v, str) else v)
]
ValueType = Literal["string", "int", "float", "bool", "date", "datetime", "enum"]
Transform = Literal["lower", "upper", "email", "domain"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Spec):
    """Keep a property only on rows whose `column` holds one of `in` (compared case-insensitively)."""

    column: str
    in_: list[str] = Field(alias="in", min_length=1)

    @field_validator("in_", mode="before")
    @classmethod
    def _as_strings(cls, values: Any) -> Any:
        # YAML reads `true` and `1` as bool and int; conditions compare the raw CSV text.
        if isinstance(values, list):
            return [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
        return values


class PropertySpec(_Spec):
    """One property: where its value comes from, its type, and how raw text becomes that type."""

    column: str | None = None
    columns: list[str] | None = Field(None, min_length=1)
    join: str = " "
    value: Any = None
    type: ValueType = "string"
    required: bool = False
    default: Any = None
    transform: Transform | None = None
    format: str | None = None
    max_length: int | None = Field(None, ge=1)
    when: Condition | None = None
    # enum only
    values: list[Any] | dict[str, Any] | None = None
    aliases: dict[str, str] | None = None
    other: Any = None
    keep_unknown: bool = False

    @model_validator(mode="after")
    def _check(self) -> PropertySpec:
        sources = [name for name in ("column", "columns", "value") if getattr(self, name) is not None]
        if len(sources) != 1:
            raise ValueError("give exactly one of column, columns (joined) or value (a constant)")
        if self.type == "enum":
            if not self.values:
                raise ValueError("an enum needs `values`: a list of allowed values or a map raw value -> value")
            known = set(self.values) if isinstance(self.values, list) else set(self.values.values())
            for alias, target in (self.aliases or {}).items():
                if target not in known:
                    raise ValueError(f"alias {alias!r} points to {target!r}, which is not one of the enum's values")
            if self.other is not None and self.keep_unknown:
                raise ValueError("give `other` or `keep_unknown`, not both")
        elif any(x is not None for x in (self.values, self.aliases, self.other)) or self.keep_unknown:
            raise ValueError("values, aliases, other and keep_unknown are for `type: enum` only")
        if self.format is not None and self.type not in ("date", "datetime"):
            raise ValueError("`format` is for date and datetime properties only")
        if self.transform is not None and self.type not in ("string", "enum"):
            raise ValueError("`transform` is for string properties only")
        return self

    @property
    def source_columns(self) -> list[str]:
        cols = self.columns or ([self.column] if self.column else [])
        return cols + ([self.when.column] if self.when else [])


def _property_shorthand(value: Any) -> Any:
    """`name: Name` is short for `name: {column: Name}`."""
    return {"column": value} if isinstance(value, str) else value


def _check_properties(cls: type, props: Any) -> dict[str, Any]:
    """Property names are snake_case and not the loader's own; specs may be written as a bare column."""
    if not isinstance(props, dict):
        raise ValueError("must be a map of property name -> column or spec")
    for name in props:
        if not isinstance(name, str) or not _PROPERTY_NAME.match(name):
            raise ValueError(f"property name {name!r} is not snake_case (a-z, 0-9, _)")
        if name in RESERVED_PROPERTIES:
            raise ValueError(f"property {name!r} is set by the loader itself")
    return {name: _property_shorthand(spec) for name, spec in props.items()}


class Endpoint(_Spec):
    """A reference to another node by its key: a column holding the key, and the label(s) it may have.

    With several labels, `resolve: prefix` picks the label by the key's first characters (Salesforce
    ids), `resolve: order` tries the labels in the order given and takes the first that has the key.
    """

    column: str
    label: EntityLabels
    resolve: Literal["order", "prefix"] = "order"
    prefixes: dict[str, EntityLabel] | None = None
    split: str | None = None
    required: bool = False

    @property
    def labels(self) -> tuple[Label, ...]:
        return tuple(self.label)

    @model_validator(mode="after")
    def _check(self) -> Endpoint:
        if self.resolve == "prefix":
            if not self.prefixes:
                raise ValueError("`resolve: prefix` needs `prefixes`: key prefix -> label")
            for prefix, label in self.prefixes.items():
                if label not in self.labels:
                    raise ValueError(f"prefix {prefix!r} maps to {label.value}, which is not among this reference's labels")
        elif self.prefixes:
            raise ValueError("`prefixes` is used only with `resolve: prefix`")
        if self.split == "":
            raise ValueError("`split` must be a non-empty separator such as ';'")
        return self


class RelationshipSpec(_Spec):
    """A relationship from a node file's row to the node(s) a column refers to."""

    type: RelType
    column: str
    to: EntityLabels
    direction: Literal["out", "in"] = "out"
    resolve: Literal["order", "prefix"] = "order"
    prefixes: dict[str, EntityLabel] | None = None
    split: str | None = None
    required: bool = False
    # The row's column is the whole truth about this relationship: other targets are removed.
    replace: bool = True
    properties: dict[str, PropertySpec] = Field(default_factory=dict)

    _check_props = field_validator("properties", mode="before")(_check_properties)

    @property
    def target(self) -> Endpoint:
        return Endpoint(
            column=self.column, label=self.to, resolve=self.resolve, prefixes=self.prefixes,
            split=self.split, required=self.required,
        )

    @model_validator(mode="after")
    def _check(self) -> RelationshipSpec:
        self.target  # validates the reference part the same way as a relationship file's ends
        return self


class RelationshipFileSpec(_Spec):
    """A file whose every row is one relationship (Salesforce's junction objects)."""

    type: RelType
    from_: Endpoint = Field(alias="from")
    to: Endpoint
    properties: dict[str, PropertySpec] = Field(default_factory=dict)

    _check_props = field_validator("properties", mode="before")(_check_properties)

    @model_validator(mode="after")
    def _check(self) -> RelationshipFileSpec:
        for name, end in (("from", self.from_), ("to", self.to)):
            if end.split:
                raise ValueError(f"`{name}.split`: a relationship file's ends hold one key each")
        return self


class KeySpec(_Spec):
    """The column holding each row's key; with `optional`, a row with a blank key makes no node (no error)."""

    column: str
    optional: bool = False


class FileSpec(_Spec):
    """One CSV file: either nodes of one label (with their relationships) or one relationship per row."""

    file: str
    required: bool = True
    delimiter: str = Field(",", min_length=1, max_length=1)
    label: EntityLabel | None = None
    key: KeySpec | None = None
    properties: dict[str, PropertySpec] = Field(default_factory=dict)
    relationships: list[RelationshipSpec] = Field(default_factory=list)
    relationship: RelationshipFileSpec | None = None

    _check_props = field_validator("properties", mode="before")(_check_properties)

    @field_validator("key", mode="before")
    @classmethod
    def _key_shorthand(cls, value: Any) -> Any:
        return {"column": value} if isinstance(value, str) else value

    @field_validator("file")
    @classmethod
    def _relative(cls, value: str) -> str:
        path = Path(value)
        if path.is_absolute() or ".." in path.parts:
            raise ValueError("must be a path inside the source folder (relative, no '..')")
        return value

    @model_validator(mode="after")
    def _check(self) -> FileSpec:
        if (self.label is None) == (self.relationship is None):
            raise ValueError("give either `label` (a node file) or `relationship` (one relationship per row)")
        if self.label is not None and self.key is None:
            raise ValueError("a node file needs `key`: the column holding each row's unique key")
        if self.relationship is not None and (self.key or self.properties or self.relationships):
            raise ValueError("a relationship file has only `relationship` (with its own `properties`)")
        return self

    @property
    def columns(self) -> set[str]:
        """Every column this spec reads."""
        cols: set[str] = set()
        if self.key:
            cols.add(self.key.column)
        for spec in self.properties.values():
            cols.update(spec.source_columns)
        for rel in self.relationships:
            cols.add(rel.column)
            for spec in rel.properties.values():
                cols.update(spec.source_columns)
        if self.relationship:
            cols.update((self.relationship.from_.column, self.relationship.to.column))
            for spec in self.relationship.properties.values():
                cols.update(spec.source_columns)
        return cols


class Mapping(_Spec):
    """A whole mapping: a source name, per-label key aliases, and the files."""

    name: str
    description: str = ""
    version: Literal[1] = 1
    # Spelling variants of keys, per label: {"Product": {"GTXPro": "GTX Pro"}} makes one product.
    key_aliases: dict[EntityLabel, dict[str, str]] = Field(default_factory=dict)
    files: list[FileSpec] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _SOURCE_NAME.match(value):
            raise ValueError("must start with a lower-case letter and use only a-z, 0-9, '_' and '-'")
        return value

    @property
    def node_labels(self) -> set[Label]:
        return {spec.label for spec in self.files if spec.label is not None}


def _location(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part).removesuffix("_")
    return path or "(top level)"


def parse_mapping(text: str, origin: str) -> Mapping:
    """Validate a mapping given as YAML text; `origin` names it in error messages."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(f"{origin}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise MappingError(f"{origin}: (top level): must be a mapping with `name` and `files`")
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "literal["))))
            message = err["msg"].removeprefix("Value error, ")
            problems.append(f"{origin}: {_location(loc)}: {message}")
        raise MappingError("\n".join(problems)) from None


def load_mapping(format_or_path: str) -> tuple[Mapping, str]:
    """A built-in format by name, or a mapping YAML file by path; returns it with its origin's name."""
    if format_or_path in BUILTIN_FORMATS:
        origin = f"{format_or_path}.yml (built-in)"
        text = resources.files("kgcrm.loaders").joinpath("mappings", f"{format_or_path}.yml").read_text("utf-8")
        return parse_mapping(text, origin), origin
    path = Path(format_or_path)
    if not path.is_file():
        raise MappingError(
            f"{format_or_path}: neither a built-in format ({', '.join(BUILTIN_FORMATS)}) nor a mapping file"
        )
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"{path}: cannot read the mapping: {exc}") from None
    return parse_mapping(text, str(path)), str(path)
