"""Plans: which sources to try for a work, in which tiers, under which budgets.

A plan is loaded from YAML, then from `FALLBACK_KIT_*` environment variables, then
from explicit overrides (later wins), and validated as a whole at load time, so a
bad plan fails before the first request with the YAML path of every fault
(`tiers[2].parallel must be >= 1`), never in the middle of a run.

Environment variables name a path with double underscores:
`FALLBACK_KIT_BUDGETS__TOTAL_TIMEOUT_MS=60000`,
`FALLBACK_KIT_SOURCES__UNPAYWALL__TIMEOUT_MS=5000`; `FALLBACK_KIT_EMAIL` sets
`politeness.email`. Overrides are a mapping of dotted paths:
`{"budgets.total_attempts": 10, "tiers[0].parallel": 3}`.
"""

from __future__ import annotations

import copy
import difflib
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .safe_yaml import YamlRefused, load_yaml

__all__ = [
    "KNOWN_SOURCES",
    "OFFLINE_BEHAVIORS",
    "Budgets",
    "BreakerPolicy",
    "GatePolicy",
    "Plan",
    "PlanError",
    "Politeness",
    "RateLimitPolicy",
    "SourcePolicy",
    "Thresholds",
    "Tier",
    "load_plan",
    "load_plan_text",
    "plan_from_dict",
]

KNOWN_SOURCES = (
    "unpaywall",
    "arxiv",
    "pmc",
    "doi_redirect",
    "landing_scrape",
    "europe_pmc",
    "wayback",
    "openalex",
    "crossref",
    "semantic_scholar",
)
OFFLINE_BEHAVIORS = ("metadata_only", "block_all", "cache_only")
ENV_PREFIX = "FALLBACK_KIT_"
#: the largest integer or number a plan takes (ms, counts, rates): a year in ms is 3e10;
#: beyond this, times overflow the event loop and SQLite
MAX_INTEGER = 10**12
_ENV_SECTIONS = ("NAME", "BUDGETS", "SOURCES", "GATES", "THRESHOLDS", "POLITENESS")


class PlanError(ValueError):
    """A plan is invalid; `problems` holds one `(yaml_path, message)` per fault."""

    def __init__(self, problems: list[tuple[str, str]], source: str = "plan"):
        self.problems = problems
        self.source = source
        lines = [_problem_line(path, msg) for path, msg in problems]
        head = f"{source}: " if source else ""
        super().__init__(head + "; ".join(lines))


def _problem_line(path: str, message: str) -> str:
    if not path:
        return message
    return f"{path}{message}" if message.startswith(":") else f"{path} {message}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Budgets:
    """Limits for one work: a hard deadline, a cap on tries (retries count) and concurrency."""

    total_timeout_ms: int = 120_000
    total_attempts: int = 20
    max_concurrent: int = 3
    per_source_timeout_ms: int = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Tier:
    """Sources tried together; at most `parallel` of them at once."""

    name: str
    sources: tuple[str, ...]
    parallel: int = 1
    hedge_after_ms: int | None = None  # start the next tier if this one has not won by then


@dataclass(frozen=True, slots=True, kw_only=True)
class SourcePolicy:
    """How one source is tried. `timeout_ms=None` means the plan's per-source budget."""

    timeout_ms: int | None = None
    retries_max: int = 1
    robots_respect: bool = False
    backoff_base_ms: int = 250
    backoff_cap_ms: int = 5_000
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerPolicy:
    failure_threshold: int = 5
    window_ms: int = 30_000
    cooldown_ms: int = 15_000
    half_open_probes: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class GatePolicy:
    """Gates in front of every try: breaker, rate wait, offline behaviour."""

    skip_if_breaker_open: bool = True
    offline: bool = False
    offline_behavior: str = "metadata_only"
    skip_if_rate_wait_exceeds_ms: int = 5_000
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    retryable_statuses: tuple[int, ...] = (429, 502, 503, 504)
    terminal_statuses: tuple[int, ...] = (400, 401, 403, 404, 405, 410)


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitPolicy:
    per_second: float
    burst: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Politeness:
    """Who we are to the services, and how fast we may ask them (overrides the defaults)."""

    email: str | None = None
    rate_limits: Mapping[str, RateLimitPolicy] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """A validated, effective plan. Build it with `load_plan` or `plan_from_dict`."""

    name: str = "plan"
    description: str = ""
    budgets: Budgets = field(default_factory=Budgets)
    tiers: tuple[Tier, ...] = ()
    sources: Mapping[str, SourcePolicy] = field(default_factory=dict)
    gates: GatePolicy = field(default_factory=GatePolicy)
    thresholds: Thresholds = field(default_factory=Thresholds)
    politeness: Politeness = field(default_factory=Politeness)
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def policy(self, source: str) -> SourcePolicy:
        """The effective policy of `source` (the defaults where the plan says nothing)."""
        return self.sources.get(source) or SourcePolicy()

    def timeout_ms(self, source: str) -> int:
        return self.policy(source).timeout_ms or self.budgets.per_source_timeout_ms

    @property
    def source_names(self) -> tuple[str, ...]:
        return tuple(s for tier in self.tiers for s in tier.sources)

    @property
    def sources_ignoring_robots(self) -> frozenset[str]:
        """The plan's sources with `robots_respect: false` (what the sandbox truth needs
        to know to say what this plan can reach)."""
        return frozenset(s for s in self.source_names if not self.policy(s).robots_respect)

    def tier_of(self, source: str) -> Tier | None:
        return next((t for t in self.tiers if source in t.sources), None)

    def to_dict(self) -> dict[str, Any]:
        """The effective plan as plain data (what `to_yaml` writes)."""
        return _plan_to_dict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=100)

    def describe_sources(self) -> list[tuple[str, Any, str]]:
        """Every effective value as `(path, value, origin)`; origin is default/yaml/env/override."""
        rows = []
        for path, value in _flatten(self.to_dict()):
            rows.append((path, value, _origin_of(path, self.origins)))
        return rows

    def replace(self, **overrides: Any) -> Plan:
        """A new validated plan with dotted-path overrides applied (`{"tiers[0].parallel": 2}`)."""
        data = self.to_dict()
        origins = dict(self.origins)
        for path, value in overrides.items():
            try:
                _set_path(data, path, value)
            except (KeyError, IndexError, TypeError, AttributeError) as exc:
                raise PlanError([(path, f"cannot be overridden: {exc!r}")], self.name) from None
            origins[_canonical(path)] = "override"
        return plan_from_dict(data, source=self.name, origins=origins)

    def __repr__(self) -> str:
        tiers = " -> ".join(f"{t.name}[{','.join(t.sources)}]" for t in self.tiers)
        return f"<Plan {self.name!r}: {tiers}>"


# ---------------------------------------------------------------------------------------
# loading


def load_plan(
    path: str | Path,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Plan:
    """Load a plan: YAML file < `FALLBACK_KIT_*` environment < overrides. Raises PlanError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError([("", f"no such plan file: {path}")], source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:  # a directory, no permission, ...
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise PlanError([("", f"cannot read plan file: {why}")], source=str(path)) from None
    return load_plan_text(
        text, env=os.environ if env is None else env, overrides=overrides, source=str(path)
    )


def load_plan_text(
    text: str,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    source: str = "plan",
) -> Plan:
    """Load a plan from YAML text (see `load_plan`). `env=None` ignores the environment."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        kind = "refused" if isinstance(exc, YamlRefused) else "syntax error"
        raise PlanError([("", f"YAML {kind} at {where}{problem}")], source=source) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PlanError([("", "the plan must be a YAML mapping at the top level")], source=source)
    origins: dict[str, str] = {p: "yaml" for p, _ in _flatten(data)}
    for path, value in _env_overrides(env or {}):
        try:
            _set_path(data, path, value)
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise PlanError(
                [(path, f"cannot be set from the environment: {exc}")], source
            ) from None
        origins[_canonical(path)] = "env"
    for path, value in (overrides or {}).items():
        try:
            _set_path(data, path, value)
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise PlanError([(path, f"cannot be overridden: {exc}")], source) from None
        origins[_canonical(path)] = "override"
    return plan_from_dict(data, source=source, origins=origins)


def _env_overrides(env: Mapping[str, str]) -> Iterator[tuple[str, Any]]:
    for key in sorted(env):
        if not key.startswith(ENV_PREFIX):
            continue
        rest = key[len(ENV_PREFIX) :]
        if rest == "EMAIL":
            yield "politeness.email", env[key]
            continue
        parts = rest.split("__")
        if parts[0] not in _ENV_SECTIONS:
            if len(parts) > 1:  # a plan path with a misspelt section: say so
                raise PlanError([(key, "is not a plan section"
                                  + _suggest(parts[0], _ENV_SECTIONS))], "environment")
            continue
        path = ".".join(p.lower() for p in parts)
        if not env[key].strip():
            raise PlanError([(key, "is empty; give a value or unset it")], "environment")
        yield path, _parse_scalar(env[key])


def _parse_scalar(text: str) -> Any:
    try:
        return load_yaml(text)
    except yaml.YAMLError:
        return text


#: path tokens: `name`, `[3]`, or a quoted key `["web.archive.org"]` (a host name has dots)
_PATH_TOKEN = re.compile(r"""\[(["'])(.+?)\1\]|([^.\[\]]+)|\[(\d+)\]""")


def _split_path(path: str) -> list[str | int]:
    return [quoted or (int(i) if i else k) for _, quoted, k, i in _PATH_TOKEN.findall(path)]


def _join_key(prefix: str, key: str) -> str:
    """`prefix.key`, or `prefix["key"]` when the key itself holds a dot or a bracket."""
    if any(c in key for c in '.[]"'):
        return f'{prefix}["{key}"]'
    return f"{prefix}.{key}" if prefix else key


def _canonical(path: str) -> str:
    out = ""
    for part in _split_path(path):
        out += f"[{part}]" if isinstance(part, int) else _join_key(out, part)[len(out):]
    return out


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    parts = _split_path(path)
    node: Any = data
    for part, nxt in zip(parts, parts[1:], strict=False):
        if isinstance(part, int):
            node = node[part]
        else:
            if node.get(part) is None:
                node[part] = [] if isinstance(nxt, int) else {}
            node = node[part]
    last = parts[-1]
    node[last] = value


def _flatten(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _flatten(v, _join_key(prefix, str(k)))
    elif isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        for i, v in enumerate(data):
            yield from _flatten(v, f"{prefix}[{i}]")
    else:
        yield prefix, data


def _origin_of(path: str, origins: Mapping[str, str]) -> str:
    probe = path
    while probe:
        if probe in origins:
            return origins[probe]
        cut = max(probe.rfind("."), probe.rfind("["))
        probe = probe[:cut] if cut > 0 else ""
    return "default"


# ---------------------------------------------------------------------------------------
# validation: each reader takes raw data and a path, appends problems, returns a value


class _Reader:
    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def mapping(self, raw: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.fail(path, f"must be a mapping, got {_type_name(raw)}")
            return {}
        for key in raw:
            if key not in allowed:
                self.fail(_join(path, key), "is not a known key" + _suggest(str(key), allowed))
        return raw

    def integer(
        self, raw: Mapping[str, Any], key: str, path: str, default: int | None, minimum: int = 1
    ) -> int | None:
        value = raw.get(key, default)
        if value is None:
            if default is not None:  # null where a number is needed: not "the default"
                self.fail(_join(path, key), "must be an integer, got null")
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(_join(path, key), f"must be an integer, got {_type_name(value)} {value!r}")
            return default
        if value < minimum:
            self.fail(_join(path, key), f"must be >= {minimum}")
            return default
        if value > MAX_INTEGER:
            self.fail(_join(path, key), f"must be <= {MAX_INTEGER:,}")
            return default
        return value

    def number(self, raw: Mapping[str, Any], key: str, path: str, default: float) -> float:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(_join(path, key), f"must be a number, got {_type_name(value)} {value!r}")
            return default
        if not math.isfinite(value) or value > MAX_INTEGER:
            self.fail(_join(path, key), f"must be a finite number <= {MAX_INTEGER:,},"
                                        f" got {value!r}")
            return default
        if value <= 0:
            self.fail(_join(path, key), "must be > 0")
            return default
        return float(value)

    def boolean(self, raw: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
        value = raw.get(key, default)
        if not isinstance(value, bool):
            self.fail(_join(path, key), f"must be true or false, got {value!r}")
            return default
        return value

    def string(
        self, raw: Mapping[str, Any], key: str, path: str, default: str | None
    ) -> str | None:
        value = raw.get(key, default)
        if value is not None and not isinstance(value, str):
            self.fail(_join(path, key), f"must be a string, got {_type_name(value)} {value!r}")
            return default
        return value

    def statuses(
        self, raw: Mapping[str, Any], key: str, path: str, default: tuple[int, ...]
    ) -> tuple[int, ...]:
        value = raw.get(key, list(default))
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 100 <= v <= 599 for v in value
        ):
            self.fail(_join(path, key), "must be a list of HTTP status codes (100-599)")
            return default
        return tuple(value)


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _type_name(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _suggest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" — did you mean {close[0]!r}?" if close else f" (known: {', '.join(choices)})"


def _keys(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def plan_from_dict(
    data: Mapping[str, Any], *, source: str = "plan", origins: Mapping[str, str] | None = None
) -> Plan:
    """Validate plain data into a Plan; raise PlanError listing every fault with its path."""
    r = _Reader()
    top = r.mapping(
        dict(data),
        "",
        ("name", "description", "budgets", "tiers", "sources", "gates", "thresholds", "politeness"),
    )
    name = r.string(top, "name", "", "plan") or "plan"
    description = r.string(top, "description", "", "") or ""

    b = r.mapping(top.get("budgets"), "budgets", _keys(Budgets))
    d = Budgets()
    budgets = Budgets(
        total_timeout_ms=r.integer(b, "total_timeout_ms", "budgets", d.total_timeout_ms) or 1,
        total_attempts=r.integer(b, "total_attempts", "budgets", d.total_attempts) or 1,
        max_concurrent=r.integer(b, "max_concurrent", "budgets", d.max_concurrent) or 1,
        per_source_timeout_ms=r.integer(
            b, "per_source_timeout_ms", "budgets", d.per_source_timeout_ms
        )
        or 1,
    )

    tiers = _read_tiers(r, top.get("tiers"))
    used = {s for t in tiers for s in t.sources}

    raw_sources = r.mapping(top.get("sources"), "sources", KNOWN_SOURCES)
    policies: dict[str, SourcePolicy] = {}
    for sname, raw in raw_sources.items():
        if sname not in KNOWN_SOURCES:
            continue
        path = f"sources.{sname}"
        p = r.mapping(raw, path, _keys(SourcePolicy))
        dp = SourcePolicy()
        options = p.get("options", {})
        if not isinstance(options, dict):
            r.fail(f"{path}.options", "must be a mapping")
            options = {}
        policies[sname] = SourcePolicy(
            timeout_ms=r.integer(p, "timeout_ms", path, None),
            retries_max=r.integer(p, "retries_max", path, dp.retries_max, minimum=0) or 0,
            robots_respect=r.boolean(p, "robots_respect", path, dp.robots_respect),
            backoff_base_ms=r.integer(p, "backoff_base_ms", path, dp.backoff_base_ms) or 1,
            backoff_cap_ms=r.integer(p, "backoff_cap_ms", path, dp.backoff_cap_ms) or 1,
            options=dict(options),
        )
    for sname in sorted(used - set(policies)):
        policies[sname] = SourcePolicy()
    for sname, pol in policies.items():
        if pol.timeout_ms is not None and pol.timeout_ms > budgets.total_timeout_ms:
            r.fail(
                f"sources.{sname}.timeout_ms",
                f"({pol.timeout_ms}) exceeds budgets.total_timeout_ms ({budgets.total_timeout_ms})",
            )

    g = r.mapping(top.get("gates"), "gates", _keys(GatePolicy))
    dg = GatePolicy()
    offline_behavior = r.string(g, "offline_behavior", "gates", dg.offline_behavior)
    if offline_behavior not in OFFLINE_BEHAVIORS:
        r.fail(
            "gates.offline_behavior",
            f"must be one of {', '.join(OFFLINE_BEHAVIORS)}"
            + _suggest(str(offline_behavior), OFFLINE_BEHAVIORS),
        )
        offline_behavior = dg.offline_behavior
    br = r.mapping(g.get("breaker"), "gates.breaker", _keys(BreakerPolicy))
    dbr = BreakerPolicy()
    gates = GatePolicy(
        skip_if_breaker_open=r.boolean(g, "skip_if_breaker_open", "gates", dg.skip_if_breaker_open),
        offline=r.boolean(g, "offline", "gates", dg.offline),
        offline_behavior=offline_behavior or dg.offline_behavior,
        skip_if_rate_wait_exceeds_ms=r.integer(
            g, "skip_if_rate_wait_exceeds_ms", "gates", dg.skip_if_rate_wait_exceeds_ms, minimum=0
        )
        or 0,
        breaker=BreakerPolicy(
            failure_threshold=r.integer(
                br, "failure_threshold", "gates.breaker", dbr.failure_threshold
            )
            or 1,
            window_ms=r.integer(br, "window_ms", "gates.breaker", dbr.window_ms) or 1,
            cooldown_ms=r.integer(br, "cooldown_ms", "gates.breaker", dbr.cooldown_ms) or 1,
            half_open_probes=r.integer(
                br, "half_open_probes", "gates.breaker", dbr.half_open_probes
            )
            or 1,
        ),
    )

    th = r.mapping(top.get("thresholds"), "thresholds", _keys(Thresholds))
    dth = Thresholds()
    thresholds = Thresholds(
        retryable_statuses=r.statuses(
            th, "retryable_statuses", "thresholds", dth.retryable_statuses
        ),
        terminal_statuses=r.statuses(th, "terminal_statuses", "thresholds", dth.terminal_statuses),
    )
    both = set(thresholds.retryable_statuses) & set(thresholds.terminal_statuses)
    if both:
        r.fail("thresholds", f"statuses {sorted(both)} are both retryable and terminal")

    po = r.mapping(top.get("politeness"), "politeness", _keys(Politeness))
    limits: dict[str, RateLimitPolicy] = {}
    raw_limits = po.get("rate_limits") or {}
    if not isinstance(raw_limits, dict):
        r.fail("politeness.rate_limits", "must be a mapping of host -> {per_second, burst}")
        raw_limits = {}
    for host, raw in raw_limits.items():
        path = _join_key("politeness.rate_limits", str(host))
        lim = r.mapping(raw, path, _keys(RateLimitPolicy))
        limits[str(host)] = RateLimitPolicy(
            per_second=r.number(lim, "per_second", path, 1.0),
            burst=r.integer(lim, "burst", path, 1) or 1,
        )
    email = r.string(po, "email", "politeness", None)
    if email is not None and "@" not in email:
        r.fail("politeness.email", f"{email!r} is not an email address")
    politeness = Politeness(email=email, rate_limits=limits)

    if r.problems:
        raise PlanError(r.problems, source=source)
    return Plan(
        name=name,
        description=description,
        budgets=budgets,
        tiers=tiers,
        sources=policies,
        gates=gates,
        thresholds=thresholds,
        politeness=politeness,
        origins=dict(origins or {}),
    )


def _read_tiers(r: _Reader, raw: Any) -> tuple[Tier, ...]:
    if raw is None or raw == []:
        r.fail("tiers", "must list at least one tier")
        return ()
    if not isinstance(raw, list):
        r.fail("tiers", f"must be a list of tiers, got {_type_name(raw)}")
        return ()
    tiers: list[Tier] = []
    seen_in: dict[str, str] = {}
    names: set[str] = set()
    for i, raw_tier in enumerate(raw):
        path = f"tiers[{i}]"
        if raw_tier is None:
            r.fail(path, "is empty: give it a name and sources")
            continue
        t = r.mapping(raw_tier, path, _keys(Tier))
        if not t:
            if isinstance(raw_tier, dict):
                r.fail(path, "is empty: give it a name and sources")
            continue
        name = r.string(t, "name", path, None)
        if not name:
            r.fail(f"{path}.name", "is required")
            name = f"tier{i}"
        elif name in names:
            r.fail(f"{path}.name", f"{name!r} is used by another tier")
        names.add(name)
        srcs = t.get("sources")
        if not srcs:
            r.fail(f"{path}.sources", "must list at least one source")
            srcs = []
        elif not isinstance(srcs, list):
            r.fail(f"{path}.sources", f"must be a list of source names, got {_type_name(srcs)}")
            srcs = []
        good: list[str] = []
        for j, s in enumerate(srcs):
            spath = f"{path}.sources[{j}]"
            if not isinstance(s, str):
                r.fail(spath, f"must be a source name, got {_type_name(s)}")
            elif s not in KNOWN_SOURCES:
                r.fail(spath, f": unknown source {s!r}" + _suggest(s, KNOWN_SOURCES))
            elif s in seen_in:
                r.fail(
                    spath,
                    f": source {s!r} is already in tier {seen_in[s]!r}; a source may "
                    "appear in one tier only",
                )
            else:
                seen_in[s] = name
                good.append(s)
        parallel = r.integer(t, "parallel", path, 1) or 1
        hedge = r.integer(t, "hedge_after_ms", path, None)
        tiers.append(Tier(name=name, sources=tuple(good), parallel=parallel, hedge_after_ms=hedge))
    return tuple(tiers)


def _plan_to_dict(plan: Plan) -> dict[str, Any]:
    def tier(t: Tier) -> dict[str, Any]:
        d: dict[str, Any] = {"name": t.name, "parallel": t.parallel, "sources": list(t.sources)}
        if t.hedge_after_ms is not None:
            d["hedge_after_ms"] = t.hedge_after_ms
        return d

    def policy(p: SourcePolicy) -> dict[str, Any]:
        d: dict[str, Any] = {
            "timeout_ms": p.timeout_ms,
            "retries_max": p.retries_max,
            "robots_respect": p.robots_respect,
            "backoff_base_ms": p.backoff_base_ms,
            "backoff_cap_ms": p.backoff_cap_ms,
        }
        if d["timeout_ms"] is None:
            del d["timeout_ms"]
        if p.options:
            d["options"] = copy.deepcopy(dict(p.options))
        return d

    b, g, th, po = plan.budgets, plan.gates, plan.thresholds, plan.politeness
    out: dict[str, Any] = {"name": plan.name}
    if plan.description:
        out["description"] = plan.description
    out["budgets"] = {f.name: getattr(b, f.name) for f in fields(Budgets)}
    out["tiers"] = [tier(t) for t in plan.tiers]
    out["sources"] = {name: policy(p) for name, p in plan.sources.items()}
    out["gates"] = {
        "skip_if_breaker_open": g.skip_if_breaker_open,
        "offline": g.offline,
        "offline_behavior": g.offline_behavior,
        "skip_if_rate_wait_exceeds_ms": g.skip_if_rate_wait_exceeds_ms,
        "breaker": {f.name: getattr(g.breaker, f.name) for f in fields(BreakerPolicy)},
    }
    out["thresholds"] = {
        "retryable_statuses": list(th.retryable_statuses),
        "terminal_statuses": list(th.terminal_statuses),
    }
    pol: dict[str, Any] = {}
    if po.email is not None:
        pol["email"] = po.email
    if po.rate_limits:
        pol["rate_limits"] = {
            h: {"per_second": lim.per_second, "burst": lim.burst}
            for h, lim in po.rate_limits.items()
        }
    if pol:
        out["politeness"] = pol
    return out
