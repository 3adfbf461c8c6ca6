"""An interactive plan editor for notebooks (ipywidgets 8).

The model is the plan itself: the editor keeps the plan as plain data, every edit
changes that data and validates it again with `plan_from_dict`, so the editor can never
hold a plan the orchestrator would refuse. An invalid edit keeps the last valid `.plan`
and shows each problem next to its field (by YAML path) and in a list; fix it and the
plan follows. "Run on sample" hands the current plan to your `on_run` and shows the
figures it returns next to the previous run's, so two versions of a plan can be compared
side by side.

    ed = PlanEditor(load_plan("plans/default.yaml"), on_run=run_and_plot)
    ed            # in a notebook cell
    ed.plan       # the current valid Plan
"""

from __future__ import annotations

import asyncio
import base64
import copy
import html
import inspect
import io
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import ipywidgets as w

from ..contracts.plan import (
    KNOWN_SOURCES,
    OFFLINE_BEHAVIORS,
    Plan,
    PlanError,
    SourcePolicy,
    plan_from_dict,
)
from ..engine.sync import run_sync

__all__ = ["PlanEditor"]

BUDGET_FIELDS = ("total_timeout_ms", "total_attempts", "max_concurrent", "per_source_timeout_ms")
DEFAULT_SAVE_PATH = "plans/edited.yaml"
_ERROR_STYLE = "color:#b00020;font-size:90%"
_SMALL = w.Layout(width="150px")


def _error_html(messages: list[str]) -> str:
    if not messages:
        return ""
    return "".join(f"<div style='{_ERROR_STYLE}'>⚠ {html.escape(m)}</div>" for m in messages)


def _problem_text(path: str, message: str) -> str:
    if not path:
        return message
    return f"{path}{message}" if message.startswith(":") else f"{path} {message}"


def _parent_paths(path: str) -> Iterable[str]:
    """`tiers[0].sources[1]` -> itself, `tiers[0].sources`, `tiers[0]`, `tiers`."""
    probe = path
    while probe:
        yield probe
        cut = max(probe.rfind("."), probe.rfind("["))
        probe = probe[:cut] if cut > 0 else ""


class SourceRow:
    """One source of a tier: its policy fields and its reorder/remove buttons."""

    def __init__(self, name: str, policy: dict[str, Any]) -> None:
        default = SourcePolicy()
        self.name = name
        self.label = w.HTML(f"<b>{html.escape(name)}</b>", layout=w.Layout(width="130px"))
        self.timeout_ms = w.IntText(
            value=int(policy.get("timeout_ms") or 0), description="timeout ms",
            tooltip="0 = use budgets.per_source_timeout_ms", layout=w.Layout(width="190px"))
        self.retries_max = w.IntText(value=int(policy.get("retries_max", default.retries_max)),
                                     description="retries", layout=w.Layout(width="150px"))
        self.up_button = w.Button(icon="arrow-up", tooltip=f"move {name} up",
                                  layout=w.Layout(width="36px"))
        self.down_button = w.Button(icon="arrow-down", tooltip=f"move {name} down",
                                    layout=w.Layout(width="36px"))
        self.remove_button = w.Button(icon="trash", tooltip=f"remove {name} from this tier",
                                      layout=w.Layout(width="36px"))
        self.error = w.HTML()
        self.timeout_error = w.HTML()
        self.retries_error = w.HTML()
        self.box = w.VBox([
            w.HBox([self.label, self.timeout_ms, self.retries_max, self.up_button,
                    self.down_button, self.remove_button]),
            self.error, self.timeout_error, self.retries_error,
        ], layout=w.Layout(margin="0 0 0 24px"))

    def __repr__(self) -> str:
        return (f"SourceRow({self.name!r}, timeout_ms={self.timeout_ms.value}, "
                f"retries_max={self.retries_max.value})")


class TierRow:
    """One tier: name, parallelism, hedging, its sources, and the buttons that move it."""

    def __init__(self, index: int, tier: dict[str, Any], sources: dict[str, Any],
                 addable: list[str]) -> None:
        self.index = index
        self.name = w.Text(value=str(tier.get("name") or ""), description="tier",
                           layout=w.Layout(width="260px"))
        self.parallel = w.IntText(value=int(tier.get("parallel", 1)), description="parallel",
                                  layout=_SMALL)
        self.hedge_after_ms = w.IntText(
            value=int(tier.get("hedge_after_ms") or 0), description="hedge ms",
            tooltip="start the next tier if this one has not won after this many ms; 0 = off",
            layout=w.Layout(width="190px"))
        self.up_button = w.Button(icon="arrow-up", tooltip="move this tier up",
                                  layout=w.Layout(width="36px"))
        self.down_button = w.Button(icon="arrow-down", tooltip="move this tier down",
                                    layout=w.Layout(width="36px"))
        self.remove_button = w.Button(icon="trash", tooltip="remove this tier",
                                      layout=w.Layout(width="36px"))
        self.add_source = w.Dropdown(options=addable, value=addable[0] if addable else None,
                                     description="add source", layout=w.Layout(width="260px"))
        self.add_source_button = w.Button(description="add", icon="plus",
                                          disabled=not addable, layout=w.Layout(width="70px"))
        self.source_rows = [SourceRow(s, dict(sources.get(s) or {}))
                            for s in tier.get("sources") or [] if isinstance(s, str)]
        self.error = w.HTML()
        self.name_error = w.HTML()
        self.parallel_error = w.HTML()
        self.hedge_error = w.HTML()
        self.sources_error = w.HTML()
        self.box = w.VBox([
            w.HBox([self.name, self.parallel, self.hedge_after_ms, self.up_button,
                    self.down_button, self.remove_button]),
            self.error, self.name_error, self.parallel_error, self.hedge_error,
            *[row.box for row in self.source_rows],
            self.sources_error,
            w.HBox([self.add_source, self.add_source_button], layout=w.Layout(margin="0 0 0 24px")),
        ], layout=w.Layout(border="1px solid #ddd", padding="4px", margin="2px 0"))

    def __repr__(self) -> str:
        return (f"TierRow({self.index}, {self.name.value!r}, parallel={self.parallel.value}, "
                f"hedge_after_ms={self.hedge_after_ms.value or None}, "
                f"sources={[r.name for r in self.source_rows]})")


class PlanEditor:
    """Edit a plan in a notebook; `.plan` is always the latest valid plan, `.errors` the
    problems of the current edit as `(yaml_path, message)`.

    `on_run(plan)` (or `on_run(plan, works)` when `works` is given) may be sync or async;
    it returns a matplotlib Figure, a list of them, or anything else to show.
    """

    def __init__(self, plan: Plan, *, on_run: Callable[..., Any] | None = None,
                 works: Any = None, save_path: str = DEFAULT_SAVE_PATH) -> None:
        self.plan = plan
        self.errors: list[tuple[str, str]] = []
        self.on_run = on_run
        self.works = works
        self.runs = 0
        self.last_result: Any = None
        self.last_error: BaseException | None = None
        self.task: asyncio.Task[Any] | None = None  # the run in flight on the kernel's loop
        self._data: dict[str, Any] = copy.deepcopy(plan.to_dict())
        self._data.setdefault("sources", {})

        self.name_field = w.Text(value=plan.name, description="plan name")
        self.name_field.observe(lambda ch: self._set(("name",), ch["new"]), names="value")

        self.budget_fields: dict[str, w.IntText] = {}
        self.budget_errors: dict[str, w.HTML] = {}
        budget_rows = []
        for key in BUDGET_FIELDS:
            field = w.IntText(value=int(self._data["budgets"][key]), description=key,
                              style={"description_width": "160px"}, layout=w.Layout(width="300px"))
            field.observe(lambda ch, k=key: self._set(("budgets", k), ch["new"]), names="value")
            self.budget_fields[key] = field
            self.budget_errors[key] = w.HTML()
            budget_rows.append(w.HBox([field, self.budget_errors[key]]))

        gates = self._data["gates"]
        gate_style = {"description_width": "220px"}
        self.gate_fields: dict[str, w.ValueWidget] = {
            "skip_if_breaker_open": w.Checkbox(value=bool(gates["skip_if_breaker_open"]),
                                               description="skip_if_breaker_open", indent=False),
            "offline_behavior": w.Dropdown(options=list(OFFLINE_BEHAVIORS),
                                           value=gates["offline_behavior"],
                                           description="offline_behavior", style=gate_style,
                                           layout=w.Layout(width="400px")),
            "skip_if_rate_wait_exceeds_ms": w.IntText(
                value=int(gates["skip_if_rate_wait_exceeds_ms"]),
                description="skip_if_rate_wait_exceeds_ms", style=gate_style,
                layout=w.Layout(width="360px")),
        }
        self.gate_errors = {k: w.HTML() for k in self.gate_fields}
        for key, field in self.gate_fields.items():
            field.observe(lambda ch, k=key: self._set(("gates", k), ch["new"]), names="value")

        self.tier_rows: list[TierRow] = []
        self.tiers_box = w.VBox()
        self.tiers_error = w.HTML()
        self.add_tier_button = w.Button(description="add tier", icon="plus")
        self.add_tier_button.on_click(lambda _: self.add_tier())

        self.error_list = w.HTML()
        self.status = w.HTML()
        self.run_button = w.Button(description="Run on sample", icon="play",
                                   button_style="primary", disabled=on_run is None,
                                   tooltip="" if on_run else "give PlanEditor(on_run=...) to run")
        self.run_button.on_click(lambda _: self.run())
        self.result_output = w.Output(layout=w.Layout(width="50%", border="1px solid #ddd"))
        self.previous_output = w.Output(layout=w.Layout(width="50%", border="1px solid #eee"))
        self.result_title = w.HTML("<b>latest run</b>")
        self.previous_title = w.HTML("<b>previous run</b>")
        self.save_path = w.Text(value=save_path, description="save to",
                                layout=w.Layout(width="400px"))
        self.save_button = w.Button(description="Save YAML", icon="save")
        self.save_button.on_click(lambda _: self.save())
        self.save_status = w.HTML()

        self.error_labels: dict[str, w.HTML] = {}
        self._render_tiers()
        self.widget = w.VBox([
            w.HTML("<h3>Plan editor</h3>"),
            self.name_field,
            w.HTML("<b>Budgets</b> (per work)"), *budget_rows,
            w.HTML("<b>Gates</b>"),
            *[w.HBox([f, self.gate_errors[k]]) for k, f in self.gate_fields.items()],
            w.HTML("<b>Tiers</b> (in order; sources of a tier run in parallel)"),
            self.tiers_box, self.tiers_error, self.add_tier_button,
            self.error_list,
            w.HBox([self.run_button, self.status]),
            w.HBox([w.VBox([self.result_title, self.result_output], layout=w.Layout(width="50%")),
                    w.VBox([self.previous_title, self.previous_output],
                           layout=w.Layout(width="50%"))]),
            w.HBox([self.save_path, self.save_button, self.save_status]),
        ])
        self._validate()

    # ---- display ----------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        state = "valid" if not self.errors else f"{len(self.errors)} problems"
        return f"<PlanEditor {self.plan!r} ({state}), runs={self.runs}>"

    # ---- the model --------------------------------------------------------------------

    @property
    def data(self) -> dict[str, Any]:
        """A copy of the plan data being edited (possibly invalid)."""
        return copy.deepcopy(self._data)

    def field_error(self, path: str) -> str:
        """The text of the error label of the field at YAML `path` ('' when fine)."""
        label = self.error_labels.get(path)
        return html.unescape(_strip_tags(label.value)) if label is not None else ""

    def _set(self, keys: tuple[Any, ...], value: Any) -> None:
        node = self._data
        for key in keys[:-1]:
            node = node.setdefault(key, {}) if isinstance(node, dict) else node[key]
        node[keys[-1]] = value
        self._validate()

    def _set_timeout(self, source: str, value: int) -> None:
        policy = self._data["sources"].setdefault(source, {})
        if value == 0:  # 0 in the field means "no own timeout: use the per-source budget"
            policy.pop("timeout_ms", None)
        else:
            policy["timeout_ms"] = value
        self._validate()

    def _set_hedge(self, tier_index: int, value: int) -> None:
        tier = self._tiers[tier_index]
        if value == 0:  # 0 in the field means "no hedging": the key is absent, as in to_dict
            tier.pop("hedge_after_ms", None)
        else:
            tier["hedge_after_ms"] = value
        self._validate()

    def _validate(self) -> None:
        try:
            plan = plan_from_dict(copy.deepcopy(self._data), source="editor",
                                  origins=self.plan.origins)
        except PlanError as exc:
            self.errors = list(exc.problems)
        else:
            self.plan = plan
            self.errors = []
        self._show_errors()

    def _show_errors(self) -> None:
        by_label: dict[str, list[str]] = {}
        for path, message in self.errors:
            target = next((p for p in _parent_paths(path) if p in self.error_labels), None)
            if target is not None:
                by_label.setdefault(target, []).append(_problem_text(path, message))
        for path, label in self.error_labels.items():
            label.value = _error_html(by_label.get(path, []))
        if self.errors:
            items = "".join(f"<li>{html.escape(_problem_text(p, m))}</li>" for p, m in self.errors)
            self.error_list.value = (
                f"<div style='{_ERROR_STYLE}'><b>{len(self.errors)} problem(s); the editor keeps "
                f"the last valid plan until they are fixed:</b><ul>{items}</ul></div>")
        else:
            self.error_list.value = "<span style='color:#2e7d32'>✓ plan is valid</span>"

    # ---- tiers and sources ------------------------------------------------------------

    @property
    def _tiers(self) -> list[dict[str, Any]]:
        tiers = self._data.get("tiers")
        if not isinstance(tiers, list):
            tiers = self._data["tiers"] = []
        return tiers

    def _used_sources(self) -> set[str]:
        return {s for t in self._tiers for s in t.get("sources") or []}

    def _render_tiers(self) -> None:
        addable = [s for s in KNOWN_SOURCES if s not in self._used_sources()]
        labels: dict[str, w.HTML] = {f"budgets.{k}": v for k, v in self.budget_errors.items()}
        labels.update({f"gates.{k}": v for k, v in self.gate_errors.items()})
        labels["tiers"] = self.tiers_error
        self.tier_rows = []
        for i, tier in enumerate(self._tiers):
            row = TierRow(i, tier, self._data["sources"], addable)
            path = f"tiers[{i}]"
            labels.update({path: row.error, f"{path}.name": row.name_error,
                           f"{path}.parallel": row.parallel_error,
                           f"{path}.hedge_after_ms": row.hedge_error,
                           f"{path}.sources": row.sources_error})
            row.name.observe(lambda ch, i=i: self._set(("tiers", i, "name"), ch["new"]),
                             names="value")
            row.parallel.observe(lambda ch, i=i: self._set(("tiers", i, "parallel"), ch["new"]),
                                 names="value")
            row.hedge_after_ms.observe(lambda ch, i=i: self._set_hedge(i, ch["new"]),
                                       names="value")
            row.up_button.on_click(lambda _, i=i: self.move_tier(i, -1))
            row.down_button.on_click(lambda _, i=i: self.move_tier(i, +1))
            row.remove_button.on_click(lambda _, i=i: self.remove_tier(i))
            row.add_source_button.on_click(
                lambda _, i=i, r=row: self.add_source(i, r.add_source.value))
            row.up_button.disabled = i == 0
            row.down_button.disabled = i == len(self._tiers) - 1
            for j, srow in enumerate(row.source_rows):
                s = srow.name
                labels.update({f"{path}.sources[{j}]": srow.error,
                               f"sources.{s}.timeout_ms": srow.timeout_error,
                               f"sources.{s}.retries_max": srow.retries_error})
                srow.timeout_ms.observe(lambda ch, s=s: self._set_timeout(s, ch["new"]),
                                        names="value")
                srow.retries_max.observe(
                    lambda ch, s=s: self._set(("sources", s, "retries_max"), ch["new"]),
                    names="value")
                srow.up_button.on_click(lambda _, i=i, j=j: self.move_source(i, j, -1))
                srow.down_button.on_click(lambda _, i=i, j=j: self.move_source(i, j, +1))
                srow.remove_button.on_click(lambda _, i=i, j=j: self.remove_source(i, j))
                srow.up_button.disabled = j == 0
                srow.down_button.disabled = j == len(row.source_rows) - 1
            self.tier_rows.append(row)
        self.error_labels = labels
        self.tiers_box.children = [row.box for row in self.tier_rows]

    def _restructure(self) -> None:
        self._render_tiers()
        self._validate()

    def add_tier(self, name: str | None = None) -> None:
        """Append a tier holding the first known source no tier uses yet (if any)."""
        names = {t.get("name") for t in self._tiers}
        if name is None:
            k = len(self._tiers) + 1
            while f"tier{k}" in names:
                k += 1
            name = f"tier{k}"
        free = [s for s in KNOWN_SOURCES if s not in self._used_sources()]
        self._tiers.append({"name": name, "parallel": 1, "sources": free[:1]})
        if free:
            self._data["sources"].setdefault(free[0], {})
        self._restructure()

    def remove_tier(self, index: int) -> None:
        del self._tiers[index]
        self._restructure()

    def move_tier(self, index: int, step: int) -> None:
        _move(self._tiers, index, step)
        self._restructure()

    def add_source(self, tier_index: int, source: str | None) -> None:
        if not source:
            return
        if source in self._used_sources():
            self.status.value = _error_html([f"{source} is already in a tier"])
            return
        self._tiers[tier_index].setdefault("sources", []).append(source)
        self._data["sources"].setdefault(source, {})
        self._restructure()

    def remove_source(self, tier_index: int, source_index: int) -> None:
        del self._tiers[tier_index]["sources"][source_index]
        self._restructure()

    def move_source(self, tier_index: int, source_index: int, step: int) -> None:
        _move(self._tiers[tier_index]["sources"], source_index, step)
        self._restructure()

    # ---- run and save -----------------------------------------------------------------

    def run(self) -> asyncio.Task[Any] | None:
        """Call `on_run` with the current plan: as a task on the running loop (the kernel
        stays free), or to completion when no loop runs. Returns the task, if any."""
        if self.on_run is None:
            self.status.value = _error_html(["no on_run was given to PlanEditor"])
            return None
        if self.errors:
            self.status.value = _error_html(
                [f"the plan has {len(self.errors)} problem(s): fix them before running"])
            return None
        if self.task is not None and not self.task.done():
            self.status.value = "<i>a run is still going; wait for it to finish</i>"
            return None
        plan = self.plan
        self.runs += 1
        number = self.runs
        self.run_button.disabled = True
        self.status.value = f"<i>run #{number} with plan {html.escape(plan.name)!r}…</i>"
        args = (plan,) if self.works is None else (plan, self.works)
        started = time.perf_counter()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        try:
            result = self.on_run(*args)
        except Exception as exc:
            self._finish(number, started, error=exc)
            return None
        if not inspect.isawaitable(result):
            self._finish(number, started, result=result)
            return None
        if loop is None:
            try:
                value = run_sync(lambda: result)
            except Exception as exc:
                self._finish(number, started, error=exc)
            else:
                self._finish(number, started, result=value)
            return None

        async def runner() -> Any:
            try:
                value = await result
            except asyncio.CancelledError:
                self._finish(number, started, error=RuntimeError("cancelled"))
                raise
            except Exception as exc:
                self._finish(number, started, error=exc)
                return None
            self._finish(number, started, result=value)
            return value

        self.task = loop.create_task(runner())
        return self.task

    def _finish(self, number: int, started: float, *, result: Any = None,
                error: BaseException | None = None) -> None:
        seconds = time.perf_counter() - started
        self.run_button.disabled = self.on_run is None
        if error is not None:
            self.last_error = error
            self.status.value = _error_html(
                [f"run #{number} failed after {seconds:.1f} s: {type(error).__name__}: {error}"])
            return
        self.last_result = result
        self.last_error = None
        outputs = _display_outputs(result)
        self.previous_output.outputs = self.result_output.outputs
        self.previous_title.value = self.result_title.value.replace("latest", "previous")
        self.result_output.outputs = tuple(outputs)
        self.result_title.value = (f"<b>latest run #{number}</b> "
                                   f"(plan {html.escape(self.plan.name)!r})")
        shown = f", {len(outputs)} output(s)" if outputs else ""
        self.status.value = (f"<span style='color:#2e7d32'>run #{number} done in "
                             f"{seconds:.1f} s{shown}</span>")

    def save(self) -> Path | None:
        """Write the current plan as YAML to the path in `save_path`; returns the path."""
        if self.errors:
            self.save_status.value = _error_html(
                [f"not saved: the plan has {len(self.errors)} problem(s)"])
            return None
        path = Path(self.save_path.value.strip() or DEFAULT_SAVE_PATH).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.plan.to_yaml(), encoding="utf-8")
        except OSError as exc:
            self.save_status.value = _error_html([f"not saved to {path}: {exc}"])
            return None
        self.save_status.value = (f"<span style='color:#2e7d32'>saved to "
                                  f"{html.escape(str(path.resolve()))}</span>")
        return path


def _move(items: list[Any], index: int, step: int) -> None:
    target = index + step
    if 0 <= index < len(items) and 0 <= target < len(items):
        items[index], items[target] = items[target], items[index]


def _strip_tags(text: str) -> str:
    import re

    return re.sub(r"<[^>]+>", "", text)


def _display_outputs(result: Any) -> list[dict[str, Any]]:
    """Jupyter output records for a run's result: figures as PNG, frames as HTML, else text.

    Built by hand (not with `Output` capture) so that they work without a kernel too.
    """
    if result is None:
        return []
    items = list(result) if isinstance(result, list | tuple) else [result]
    return [_display_record(item) for item in items]


def _display_record(item: Any) -> dict[str, Any]:
    from matplotlib.figure import Figure

    data: dict[str, Any] = {"text/plain": repr(item)}
    if isinstance(item, Figure):
        buffer = io.BytesIO()
        item.savefig(buffer, format="png", bbox_inches="tight")
        data["image/png"] = base64.b64encode(buffer.getvalue()).decode("ascii")
        if getattr(item.canvas, "manager", None) is not None:
            import matplotlib.pyplot as plt

            plt.close(item)  # a pyplot figure would otherwise stay open (and show twice)
    elif hasattr(item, "_repr_html_"):
        data["text/html"] = item._repr_html_()
    return {"output_type": "display_data", "data": data, "metadata": {}}
