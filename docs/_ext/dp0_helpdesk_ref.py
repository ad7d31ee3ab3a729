"""Reference pages for the helpdesk itself, generated from its code at build time so they cannot drift.

* ``helpdesk-settings``: every field of ``helpdesk.config.Settings`` (environment variable, type, default,
  description).
* ``helpdesk-cli``: walks the click group ``helpdesk.cli:cli`` (commands, arguments, options, help).
* ``helpdesk-openapi``: renders ``helpdesk.api.openapi:build_openapi()`` (paths, methods, parameters,
  request and response schemas, component schemas).

Import errors are not caught: if the code is missing the build fails, rather than shipping an empty page.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import json
import re
import types
import typing
from pathlib import Path
from typing import Any

import click
from docutils import nodes
from dp0_common import build_table, literal, paragraph, section
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective


def inline_code(text: str) -> list[nodes.Node]:
    """Plain text in which `backticked` spans become inline code; nothing else is interpreted."""
    parts: list[nodes.Node] = []
    for i, chunk in enumerate(re.split(r"`([^`]*)`", text)):
        if i % 2:
            parts.append(literal(chunk))
        elif chunk:
            parts.append(nodes.Text(chunk))
    return parts


def _load(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)


def _note_module(env: Any, obj: Any) -> None:
    """Record the source file, and mark the page as built from code so that every build reads it again."""
    path = inspect.getsourcefile(obj) if not isinstance(obj, str) else obj
    if path:
        env.note_dependency(str(Path(path)))
    if not hasattr(env, "dp0_code_docs"):
        env.dp0_code_docs = set()
    env.dp0_code_docs.add(env.docname)


def _purge(app: Sphinx, env: Any, docname: str) -> None:
    getattr(env, "dp0_code_docs", set()).discard(docname)


def _merge(app: Sphinx, env: Any, docnames: set[str], other: Any) -> None:
    if not hasattr(env, "dp0_code_docs"):
        env.dp0_code_docs = set()
    env.dp0_code_docs |= getattr(other, "dp0_code_docs", set())


def _always_reread(app: Sphinx, env: Any, added: set[str], changed: set[str], removed: set[str]) -> list[str]:
    """The settings, CLI and API pages come from code spread over many modules: read them on every build."""
    return sorted(getattr(env, "dp0_code_docs", set()) - removed)


# --------------------------------------------------------------------------------------------------
# Settings


def format_type(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is type(None):
        return "None"
    if origin is typing.Literal:
        return " | ".join(repr(a) if not isinstance(a, str) else f'"{a}"' for a in args)
    if origin is typing.Annotated:
        return format_type(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(format_type(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(format_type(a) for a in args)}]"
    if isinstance(tp, type):
        return tp.__name__
    return str(tp)


def format_default(field: Any) -> str:
    from pydantic_core import PydanticUndefined

    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "(required)"
    else:
        value = field.default
    if value is None:
        return "(unset)"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) if value else "(empty)"
    return str(value)


def is_secret(tp: Any) -> bool:
    from pydantic import SecretStr

    return tp is SecretStr or any(is_secret(a) for a in typing.get_args(tp))


class HelpdeskSettings(SphinxDirective):
    """One row per settings field: ``HELPDESK_<NAME>``, type, default, description."""

    option_spec = {"model": str}

    def run(self) -> list[nodes.Node]:
        model = _load(self.options.get("model", "helpdesk.config:Settings"))
        _note_module(self.env, model)
        prefix = model.model_config.get("env_prefix", "")
        rows = []
        for name, field in model.model_fields.items():
            tp = field.annotation
            type_text = format_type(tp)
            if any(getattr(m, "__name__", "") == "NoDecode" for m in field.metadata):
                type_text += " (comma-separated)"
            if is_secret(tp):
                type_text += " (secret)"
            constraints = [
                f"{k} {getattr(m, k)}" for m in field.metadata for k in ("ge", "le", "gt", "lt") if hasattr(m, k)
            ]
            description = inline_code(field.description or "")
            if constraints:
                description.append(nodes.Text(f" Constraint: {', '.join(constraints)}."))
            rows.append(
                [literal(f"{prefix}{name}".upper()), literal(type_text), literal(format_default(field)), description]
            )
        return [
            paragraph(
                f"{len(rows)} settings, read from the environment; generated from {model.__module__}.{model.__name__}."
            ),
            build_table(
                ["Variable", "Type", "Default", "Meaning"], rows, widths=[28, 20, 18, 34], classes=["dp0-settings"]
            ),
        ]


# --------------------------------------------------------------------------------------------------
# CLI


def walk_commands(command: click.Command, ctx: click.Context) -> list[tuple[click.Context, click.Command]]:
    found = [(ctx, command)]
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is None or getattr(sub, "hidden", False):
                continue
            found.extend(walk_commands(sub, click.Context(sub, info_name=name, parent=ctx)))
    return found


def _param_type(param: click.Parameter) -> str:
    if isinstance(param.type, click.Choice):
        return " | ".join(str(c) for c in param.type.choices)
    if isinstance(param, click.Option) and param.is_flag:
        return "flag"
    return param.type.name.upper()


def _param_default(param: click.Parameter) -> str:
    if isinstance(param, click.Option) and param.is_flag:
        return ""
    default = param.default
    if default is None or callable(default):
        return ""
    return str(default)


class HelpdeskCLI(SphinxDirective):
    option_spec = {"command": str, "prog": str}

    def run(self) -> list[nodes.Node]:
        root = _load(self.options.get("command", "helpdesk.cli:cli"))
        if not isinstance(root, click.Command):
            raise self.error(f"{root!r} is not a click command")
        prog = self.options.get("prog", "helpdesk")
        callback = root.callback
        _note_module(self.env, inspect.getmodule(callback) if callback else inspect.getmodule(root))
        document = self.state.document
        result: list[nodes.Node] = []
        for ctx, command in walk_commands(root, click.Context(root, info_name=prog)):
            path = ctx.command_path
            sec = section(document, path, f"cli-{path}")
            help_text = inspect.cleandoc(command.help or command.short_help or "")
            for para_text in [p for p in help_text.split("\n\n") if p.strip()]:
                sec += paragraph(*inline_code(" ".join(para_text.replace("\b", "").split())))
            usage = f"{path} {' '.join(command.collect_usage_pieces(ctx))}".strip()
            sec += nodes.literal_block(usage, usage, language="text")
            if isinstance(command, click.Group):
                subs = [
                    n for n in command.list_commands(ctx) if not getattr(command.get_command(ctx, n), "hidden", False)
                ]
                sec += paragraph("Subcommands: ", *_comma([literal(f"{path} {n}") for n in subs]), ".")
            rows = []
            for param in command.get_params(ctx):
                if getattr(param, "hidden", False):
                    continue
                if isinstance(param, click.Argument):
                    names = param.human_readable_name.upper()
                    what = "argument" + ("" if param.required else " (optional)")
                else:
                    names = ", ".join([*param.opts, *param.secondary_opts])
                    what = "option" + (" (required)" if param.required else "")
                rows.append(
                    [
                        literal(names),
                        what,
                        _param_type(param),
                        _param_default(param),
                        inline_code(getattr(param, "help", None) or ""),
                    ]
                )
            if rows:
                sec += build_table(["Name", "Kind", "Type", "Default", "Meaning"], rows, widths=[24, 12, 16, 12, 36])
            result.append(sec)
        return result


def _comma(parts: list[nodes.Node]) -> list[nodes.Node]:
    out: list[nodes.Node] = []
    for i, part in enumerate(parts):
        if i:
            out.append(nodes.Text(", "))
        out.append(part)
    return out


# --------------------------------------------------------------------------------------------------
# OpenAPI


def schema_type(schema: dict[str, Any] | None) -> str:
    if not schema:
        return "any"
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    for combinator in ("oneOf", "anyOf", "allOf"):
        if combinator in schema:
            joiner = " and " if combinator == "allOf" else " | "
            return joiner.join(schema_type(s) for s in schema[combinator])
    kind = schema.get("type", "object" if "properties" in schema else "any")
    kinds = kind if isinstance(kind, list) else [kind]
    rendered = []
    for k in kinds:
        if k == "array":
            rendered.append(f"array of {schema_type(schema.get('items'))}")
        else:
            rendered.append(str(k))
    text = " | ".join(rendered)
    if "format" in schema:
        text += f" ({schema['format']})"
    limits = [f"{k} {schema[k]}" for k in ("minimum", "maximum", "minLength", "maxLength") if k in schema]
    if "default" in schema:
        limits.append(f"default {json.dumps(schema['default'])}")
    if limits:
        text += f" [{', '.join(limits)}]"
    return text


def linked(text: str, names: set[str]) -> list[nodes.Node]:
    """A type description in which component schema names link to their section further down the page."""
    if not names:
        return [nodes.Text(text)]
    parts: list[nodes.Node] = []
    pattern = r"\b(" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + r")\b"
    for i, chunk in enumerate(re.split(pattern, text)):
        if i % 2:
            parts.append(nodes.reference(chunk, chunk, refid=nodes.make_id(f"api-schema-{chunk}")))
        elif chunk:
            parts.append(nodes.Text(chunk))
    return parts


def properties_table(schema: dict[str, Any], names: set[str] = frozenset()) -> nodes.table | None:
    props = schema.get("properties")
    if not props:
        return None
    required = set(schema.get("required", []))
    rows = [
        [
            literal(name),
            linked(schema_type(prop), names),
            "yes" if name in required else "",
            inline_code(prop.get("description", "")),
        ]
        for name, prop in props.items()
    ]
    return build_table(["Field", "Type", "Required", "Meaning"], rows, widths=[20, 30, 10, 40])


def _body_nodes(content: dict[str, Any], names: set[str]) -> list[nodes.Node]:
    out: list[nodes.Node] = []
    for media, media_spec in content.items():
        schema = media_spec.get("schema", {})
        out.append(paragraph(literal(media), ": ", *linked(schema_type(schema), names)))
        if "$ref" not in schema and (table := properties_table(schema, names)) is not None:
            out.append(table)
    return out


class HelpdeskOpenAPI(SphinxDirective):
    option_spec = {"factory": str}

    def run(self) -> list[nodes.Node]:
        factory = _load(self.options.get("factory", "helpdesk.api.openapi:build_openapi"))
        _note_module(self.env, factory)
        spec = factory()
        document = self.state.document
        names = set(spec.get("components", {}).get("schemas", {}))
        info = spec.get("info", {})
        servers = [s.get("url", "") for s in spec.get("servers", [])]
        base = servers[0] if servers else ""
        result: list[nodes.Node] = [
            paragraph(
                f"{info.get('title', 'API')}, version {info.get('version', '?')} (OpenAPI {spec.get('openapi', '?')}). "
                "Paths below are relative to ",
                literal(base or "/"),
                "; the same description is served as JSON at ",
                literal("/openapi.json"),
                ".",
            )
        ]
        if info.get("description"):
            result.append(paragraph(*inline_code(info["description"])))
        for path, item in spec.get("paths", {}).items():
            for method in ("get", "post", "put", "patch", "delete"):
                if method not in item:
                    continue
                op = item[method]
                title = f"{method.upper()} {base}{path}"
                sec = section(document, title, f"api-{method}-{path}")
                if op.get("summary"):
                    sec += paragraph(nodes.strong(op["summary"], op["summary"]))
                if op.get("description"):
                    sec += paragraph(*inline_code(op["description"]))
                params = [*item.get("parameters", []), *op.get("parameters", [])]
                if params:
                    sec += build_table(
                        ["Parameter", "In", "Type", "Required", "Meaning"],
                        [
                            [
                                literal(p["name"]),
                                p.get("in", ""),
                                linked(schema_type(p.get("schema")), names),
                                "yes" if p.get("required") else "",
                                inline_code(p.get("description", "")),
                            ]
                            for p in params
                        ],
                        widths=[18, 8, 28, 10, 36],
                    )
                if body := op.get("requestBody"):
                    sec += paragraph(
                        nodes.strong("Request body", "Request body"), " (required)" if body.get("required") else ""
                    )
                    for node in _body_nodes(body.get("content", {}), names):
                        sec += node
                responses = nodes.bullet_list()
                for code, response in sorted(op.get("responses", {}).items()):
                    entry = paragraph(literal(str(code)), " ", *inline_code(response.get("description", "")))
                    for media, media_spec in response.get("content", {}).items():
                        entry += nodes.Text(f" — {media}: ")
                        entry.extend(linked(schema_type(media_spec.get("schema")), names))
                    item_node = nodes.list_item("", entry)
                    for media_spec in response.get("content", {}).values():
                        schema = media_spec.get("schema", {})
                        if "$ref" not in schema and (table := properties_table(schema, names)) is not None:
                            item_node += table
                    responses += item_node
                if len(responses):
                    sec += paragraph(nodes.strong("Responses", "Responses"))
                    sec += responses
                result.append(sec)
        schemas = spec.get("components", {}).get("schemas", {})
        if schemas:
            outer = section(document, "Schemas", "api-schemas")
            for name, schema in schemas.items():
                sec = section(document, name, f"api-schema-{name}")
                if schema.get("description"):
                    sec += paragraph(*inline_code(schema["description"]))
                table = properties_table(schema, names)
                sec += table if table is not None else paragraph(*linked(schema_type(schema), names))
                outer += sec
            result.append(outer)
        return result


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("helpdesk-settings", HelpdeskSettings)
    app.add_directive("helpdesk-cli", HelpdeskCLI)
    app.add_directive("helpdesk-openapi", HelpdeskOpenAPI)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("env-get-outdated", _always_reread)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
