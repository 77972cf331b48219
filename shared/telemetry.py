"""OpenTelemetry: one trace follows a request from HTTP, through the event on NATS, into each projection; and
each service's vital signs (lags, backlogs, dead letters, what is down) as metrics.

Trace context travels in the event's `traceparent` field and in NATS message headers. Spans and metrics go to
OTLP when CASETRACK_OTLP_ENDPOINT is set; otherwise nothing is exported (CASETRACK_CONSOLE_TRACES prints spans
on the service's stdout, for debugging).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry import context, metrics, propagate, trace
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

from shared.settings import Settings


def configure_tracing(service: str, settings: Settings) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": f"casetrack-{service}"}))
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint)))
    elif settings.console_traces:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stdout)))
    trace.set_tracer_provider(provider)
    return provider


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def context_from(headers: Mapping[str, str] | None) -> context.Context:
    return propagate.extract(dict(headers or {}))


def trace_headers(traceparent: str | None) -> dict[str, str]:
    return {"traceparent": traceparent} if traceparent else {}


def configure_metrics(service: str, settings: Settings) -> MeterProvider:
    """The service's meter provider: exported to OTLP every 10 s when an endpoint is set, else kept unexported."""
    readers: list[MetricReader] = []
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=settings.otlp_endpoint)))
    provider = MeterProvider(metric_readers=readers,
                             resource=Resource.create({"service.name": f"casetrack-{service}"}))
    metrics.set_meter_provider(provider)
    return provider


Snapshot = Callable[[], Mapping[str, Any]]


def observe_vitals(snapshot: Snapshot, meter: Meter | None = None) -> None:
    """Gauges of a service's vital signs, each read from its latest snapshot (see shared/vitals.py) when the
    metrics are collected: nothing is probed for them. An unknown lag is left out, not reported as 0."""
    meter = meter or metrics.get_meter("casetrack")

    def gauge(name: str, unit: str, description: str, read: Callable[[Mapping[str, Any]], Iterable[Observation]]):
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return list(read(snapshot()))
        meter.create_observable_gauge(name, callbacks=[observe], unit=unit, description=description)

    def known(value: Any, attributes: dict[str, str] | None = None) -> list[Observation]:
        return [Observation(value, attributes or {})] if isinstance(value, int | float) else []

    gauge("casetrack.up", "1", "1 when the part (database, nats) answers, else 0",
          lambda s: [Observation(int(s.get(part) == "ok"), {"part": part}) for part in ("database", "nats")
                     if part in s])
    gauge("casetrack.store.position", "{event}", "the position of the last event saved in the service's store",
          lambda s: known(s.get("store_position")))
    gauge("casetrack.relay.lag", "{event}", "events saved in the store but not yet acknowledged by JetStream",
          lambda s: known(s.get("relay_lag")))
    gauge("casetrack.projection.lag", "{event}",
          "events the source store holds that the projection has not applied yet (from the source store's head)",
          lambda s: [o for projection, sources in s.get("projection_lag", {}).items()
                     for source, lag in sources.items()
                     for o in known(lag, {"projection": projection, "source": source})])
    def inbox(s: Mapping[str, Any]) -> Mapping[str, Any]:
        return s["district_inbox"] if isinstance(s.get("district_inbox"), dict) else {}

    gauge("casetrack.district_inbox.backlog", "{message}", "district messages waiting or in hand, not yet answered",
          lambda s: known(inbox(s).get("backlog")))
    gauge("casetrack.district_inbox.oldest_unanswered_age", "s",
          "how long the oldest unanswered district message has waited",
          lambda s: known(inbox(s).get("oldest_unanswered_seconds")))
    gauge("casetrack.dead_letters", "{message}", "messages a consumer could never apply, kept with the reason",
          lambda s: [Observation(count, {"consumer": consumer})
                     for consumer, count in (s.get("dead_letters") or {}).items()])
