"""OpenTelemetry: one trace follows a request from HTTP, through the event on NATS, into each projection.

Trace context travels in the event's `traceparent` field and in NATS message headers.
Spans go to the console exporter by default, to OTLP when CASETRACK_OTLP_ENDPOINT is set.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from opentelemetry import context, propagate, trace
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
