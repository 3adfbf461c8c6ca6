"""The source registry (contracts/registry.py) is the one list of sources: names,
identifiers, hosts, rate limits and options are written there and read everywhere."""

from __future__ import annotations

import ast
import inspect

import pytest

from fallback_kit.contracts import plan as plan_module
from fallback_kit.contracts.plan import PlanError, plan_from_dict
from fallback_kit.contracts.registry import SOURCE_NAMES, SOURCE_SPECS
from fallback_kit.sandbox import world
from fallback_kit.sources import SOURCES, get_source
from fallback_kit.web.client import DEFAULT_RATE_LIMITS
from fallback_kit.web.gates import Gates


def test_every_list_of_sources_is_the_registry():
    """Plan validation, the sources package and the sandbox name the same sources, in order."""
    assert plan_module.KNOWN_SOURCES is SOURCE_NAMES
    assert world.SOURCES is SOURCE_NAMES
    assert tuple(SOURCES) == SOURCE_NAMES


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_each_source_class_takes_its_facts_from_the_registry(name):
    """needs, hosts and summary are written in the registry only, never in the class."""
    cls, spec = SOURCES[name], SOURCE_SPECS[name]
    assert (cls.needs, cls.hosts, cls.summary) == (spec.needs, spec.hosts, spec.summary)
    body = ast.parse(inspect.getsource(cls)).body[0]
    assigned = {t.id for node in ast.walk(body) if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)}
    assert not {"needs", "hosts", "summary"} & assigned


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_the_options_a_source_reads_are_the_registrys(name):
    """Every `self.option(ctx, KEY)` in a source's module is declared in its entry."""
    tree = ast.parse(inspect.getsource(inspect.getmodule(SOURCES[name])))
    read = {
        node.args[1].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "option"
        and isinstance(node.args[1], ast.Constant)
    }
    assert read == set(SOURCE_SPECS[name].options)


def test_default_rate_limits_are_the_registrys():
    """Politeness builds its per-host limits from the registry, each host once."""
    hosts = [h for spec in SOURCE_SPECS.values() for h in spec.rate_limits]
    assert len(hosts) == len(set(hosts))
    assert {h: (lim.per_second, lim.burst) for h, lim in DEFAULT_RATE_LIMITS.items()} == {
        h: (float(ps), b) for spec in SOURCE_SPECS.values() for h, (ps, b) in
        spec.rate_limits.items()
    }


@pytest.mark.parametrize("name", [n for n in SOURCE_NAMES if SOURCE_SPECS[n].hosts])
def test_every_service_host_has_a_default_rate_limit(name):
    gates = Gates(rate_limits=DEFAULT_RATE_LIMITS)
    for host in SOURCE_SPECS[name].hosts:
        assert gates.limiter(host) is not None, host


def _problems(sources):
    with pytest.raises(PlanError) as info:
        plan_from_dict({"tiers": [{"name": "a", "sources": ["arxiv"]}], "sources": sources})
    return info.value.problems


def test_unknown_option_key_names_its_yaml_path_with_did_you_mean():
    [(path, msg)] = _problems({"arxiv": {"options": {"use_apii": True}}})
    assert path == "sources.arxiv.options.use_apii"
    assert "did you mean 'use_api'" in msg


def test_an_option_of_a_source_without_options_is_an_error():
    [(path, msg)] = _problems({"unpaywall": {"options": {"fast": True}}})
    assert path == "sources.unpaywall.options.fast" and "takes no options" in msg


def test_an_option_of_the_wrong_type_is_an_error():
    [(path, msg)] = _problems({"pmc": {"options": {"article_page": "yes"}}})
    assert path == "sources.pmc.options.article_page" and "true or false" in msg


def test_a_valid_option_is_kept_and_defaults_come_from_the_registry():
    plan = plan_from_dict({"tiers": [{"name": "a", "sources": ["arxiv"]}],
                           "sources": {"arxiv": {"options": {"use_api": True}}}})
    assert plan.policy("arxiv").options == {"use_api": True}
    from fallback_kit.sources.base import SourceContext

    ctx = SourceContext(http=None, options={})  # type: ignore[arg-type]
    for name, spec in SOURCE_SPECS.items():
        for key, opt in spec.options.items():
            assert get_source(name).option(ctx, key) == opt.default
