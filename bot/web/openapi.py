"""The OpenAPI 3 document of the JSON API (tickets) and the Open311 endpoints."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.app import BOT
from storage.models import TICKET_STATUSES

_ERR = {"$ref": "#/components/schemas/Error"}
_O311_ERRS = {"$ref": "#/components/schemas/Open311Errors"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _q(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def openapi_document(categories: list[str], version: str = "0.1.0") -> dict[str, Any]:
    """The document; category codes come from the running taxonomy."""
    str_or_null = {"type": ["string", "null"]}
    ticket = {
        "type": "object",
        "required": ["number", "category", "status", "created_at"],
        "properties": {
            "number": {"type": "integer"},
            "category": {"type": "string"},
            "category_label": {"type": "string"},
            "urgent": {"type": "boolean"},
            "major": {"type": "boolean"},
            "summary": {"type": "string"},
            "location": str_or_null,
            "building_id": {"type": ["integer", "null"]},
            "status": {"type": "string", "enum": list(TICKET_STATUSES)},
            "rung": {"type": "integer"},
            "source": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "next_deadline_at": {"type": ["string", "null"]},
            "rating": str_or_null,
        },
    }
    service_request = {
        "type": "object",
        "required": ["service_request_id", "status", "service_code", "requested_datetime"],
        "properties": {
            "service_request_id": {"type": "string"},
            "status": {"type": "string", "enum": ["open", "closed"]},
            "status_notes": str_or_null,
            "service_name": {"type": "string"},
            "service_code": {"type": "string"},
            "description": str_or_null,
            "agency_responsible": str_or_null,
            "service_notice": str_or_null,
            "requested_datetime": {"type": "string"},
            "updated_datetime": str_or_null,
            "expected_datetime": str_or_null,
            "address": str_or_null,
            "address_id": str_or_null,
            "zipcode": str_or_null,
            "lat": {"type": ["number", "null"]},
            "long": {"type": ["number", "null"]},
            "media_url": str_or_null,
        },
    }
    o311_404 = {"description": "not found", **_json(_O311_ERRS)}
    o311_400 = {"description": "bad input", **_json(_O311_ERRS)}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "红管家 redsteward API",
            "version": version,
            "description": "Tickets of the building groups, and Open311 GeoReport v2 for the "
            "city's systems (JSON shown; every Open311 path also answers in .xml).",
        },
        "paths": {
            "/api/tickets": {
                "get": {
                    "operationId": "listTickets",
                    "summary": "Tickets, newest first",
                    "parameters": [
                        _q("status", {"type": "string", "enum": list(TICKET_STATUSES)}, "status"),
                        _q("category", {"type": "string", "enum": categories}, "category code"),
                        _q("building", {"type": "string"}, "building id or name"),
                        _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "at most"),
                    ],
                    "responses": {
                        "200": {
                            "description": "tickets",
                            **_json(
                                {
                                    "type": "object",
                                    "properties": {"tickets": {"type": "array", "items": ticket}},
                                }
                            ),
                        },
                        "400": {"description": "bad filter", **_json(_ERR)},
                        "401": {"description": "sign-in needed (outside the simulator)"},
                    },
                }
            },
            "/api/tickets/{number}": {
                "get": {
                    "operationId": "getTicket",
                    "summary": "One ticket with its event log",
                    "parameters": [
                        {
                            "name": "number",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": {"description": "the ticket", **_json(ticket)},
                        "400": {"description": "not a number", **_json(_ERR)},
                        "404": {"description": "no such ticket", **_json(_ERR)},
                    },
                }
            },
            "/open311/v2/services.json": {
                "get": {
                    "operationId": "open311Services",
                    "summary": "The complaint categories as Open311 services",
                    "parameters": [_q("jurisdiction_id", {"type": "string"}, "jurisdiction")],
                    "responses": {
                        "200": {
                            "description": "services",
                            **_json(
                                {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": [
                                            "service_code",
                                            "service_name",
                                            "metadata",
                                            "type",
                                        ],
                                        "properties": {
                                            "service_code": {"type": "string"},
                                            "service_name": {"type": "string"},
                                            "description": {"type": "string"},
                                            "metadata": {"type": "boolean"},
                                            "type": {
                                                "type": "string",
                                                "enum": ["realtime", "batch", "blackbox"],
                                            },
                                            "keywords": {"type": "string"},
                                            "group": {"type": "string"},
                                        },
                                    },
                                }
                            ),
                        },
                        "404": o311_404,
                    },
                }
            },
            "/open311/v2/requests.json": {
                "get": {
                    "operationId": "open311Requests",
                    "summary": "Service requests (tickets) with the standard's filters",
                    "parameters": [
                        _q("service_request_id", {"type": "string"}, "comma-delimited ids"),
                        _q("service_code", {"type": "string"}, "comma-delimited codes"),
                        _q("start_date", {"type": "string", "format": "date-time"}, "W3C"),
                        _q("end_date", {"type": "string", "format": "date-time"}, "W3C"),
                        _q("status", {"type": "string"}, "open, closed (comma-delimited)"),
                        _q("jurisdiction_id", {"type": "string"}, "jurisdiction"),
                    ],
                    "responses": {
                        "200": {
                            "description": "requests",
                            **_json({"type": "array", "items": service_request}),
                        },
                        "400": o311_400,
                        "404": o311_404,
                    },
                },
                "post": {
                    "operationId": "open311CreateRequest",
                    "summary": "A ticket handed over by the 12345 hotline",
                    "description": "Sent again with the same Idempotency-Key (or "
                    "attribute[hotline_id]), a hand-over answers with the ticket it made.",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "maxLength": 100},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/x-www-form-urlencoded": {
                                "schema": {
                                    "type": "object",
                                    "required": ["api_key", "service_code", "description"],
                                    "properties": {
                                        "api_key": {"type": "string"},
                                        "jurisdiction_id": {"type": "string"},
                                        "service_code": {"type": "string"},
                                        "description": {"type": "string", "maxLength": 4000},
                                        "address_string": {"type": "string"},
                                        "address_id": {"type": "string"},
                                        "lat": {"type": "number"},
                                        "long": {"type": "number"},
                                        "first_name": {"type": "string"},
                                        "last_name": {"type": "string"},
                                        "phone": {"type": "string"},
                                        "email": {"type": "string"},
                                        "account_id": {"type": "string"},
                                        "device_id": {"type": "string"},
                                        "attribute[hotline_id]": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "created",
                            **_json(
                                {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["service_request_id"],
                                        "properties": {
                                            "service_request_id": {"type": "string"},
                                            "service_notice": str_or_null,
                                            "account_id": str_or_null,
                                        },
                                    },
                                }
                            ),
                        },
                        "400": o311_400,
                        "403": {"description": "api_key missing or wrong", **_json(_O311_ERRS)},
                        "404": o311_404,
                    },
                },
            },
            "/open311/v2/requests/{service_request_id}.json": {
                "get": {
                    "operationId": "open311Request",
                    "summary": "One service request (a list of one)",
                    "parameters": [
                        {
                            "name": "service_request_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        _q("jurisdiction_id", {"type": "string"}, "jurisdiction"),
                    ],
                    "responses": {
                        "200": {
                            "description": "the request",
                            **_json({"type": "array", "items": service_request}),
                        },
                        "404": o311_404,
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
                "Open311Errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["code", "description"],
                        "properties": {
                            "code": {"type": "integer"},
                            "description": {"type": "string"},
                        },
                    },
                },
            }
        },
    }


async def get_openapi(request: web.Request) -> web.Response:
    """GET /api/openapi.json."""
    cats = list(request.app[BOT].services.classifier.categories)
    return web.json_response(openapi_document(cats))


def setup(app: web.Application) -> None:
    """Register the document's route."""
    app.router.add_get("/api/openapi.json", get_openapi)
