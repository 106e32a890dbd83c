"""The optional edge (EdgeProtection=true): CloudFront and an AWS WAF web ACL in front of the HTTP API.

Issue 36, finding 2: an HTTP API counts every request against its route's throttle before the authorizer runs, so
anonymous traffic on a keyed route used up what key holders get. The web ACL's rules are evaluated here on the
requests a client would send, by a small interpreter of the statements the template uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from template_support import (
    EXPECTED_ROUTES,
    OPEN_ROUTES,
    evaluate_conditions,
    overrides,
    references,
    render,
    resources_of_type,
)

#: The managed CloudFront policies the distribution names by id (CloudFront developer guide, "managed policies").
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


def field(spec: Mapping[str, Any], method: str, path: str, headers: Mapping[str, str]) -> str | None:
    """The part of a request a FieldToMatch names; a missing header is None (the statement then does not match)."""
    ((kind, options),) = spec.items()
    if kind == "Method":
        return method
    if kind == "UriPath":
        return path
    if kind == "SingleHeader":
        return {name.lower(): value for name, value in headers.items()}.get(options["Name"].lower())
    raise AssertionError(f"the interpreter does not know FieldToMatch {kind}")


def matches(statement: Mapping[str, Any], method: str, path: str, headers: Mapping[str, str]) -> bool:
    """Whether a WAF statement matches one request (the statement kinds the template uses, no transformation)."""
    ((kind, body),) = statement.items()
    if kind in ("AndStatement", "OrStatement"):
        results = [matches(inner, method, path, headers) for inner in body["Statements"]]
        assert len(results) >= 2, kind  # WAF refuses a logical statement of one
        return all(results) if kind == "AndStatement" else any(results)
    if kind == "NotStatement":
        return not matches(body["Statement"], method, path, headers)
    assert body["TextTransformations"] == [{"Priority": 0, "Type": "NONE"}], body
    value = field(body["FieldToMatch"], method, path, headers)
    if value is None:
        return False
    if kind == "ByteMatchStatement":
        assert body["PositionalConstraint"] == "EXACTLY", body
        return value == body["SearchString"]
    if kind == "SizeConstraintStatement":
        assert body["ComparisonOperator"] == "GT", body
        return len(value.encode()) > int(body["Size"])
    raise AssertionError(f"the interpreter does not know {kind}")


@pytest.fixture(scope="module")
def acl(template: dict[str, Any]) -> dict[str, Any]:
    return dict(template["Resources"]["EdgeWebAcl"]["Properties"])


def blocked_by(acl: Mapping[str, Any], method: str, path: str, headers: Mapping[str, str]) -> str | None:
    """The name of the first custom rule that blocks the request, or None when it goes on to API Gateway."""
    for rule in sorted(acl["Rules"], key=lambda rule: rule["Priority"]):
        statement = rule["Statement"]
        if "Action" not in rule or "RateBasedStatement" in statement:
            continue  # managed groups and rate limits depend on traffic, not on one request
        if "Block" in rule["Action"] and matches(statement, method, path, headers):
            return str(rule["Name"])
    return None


def test_the_edge_is_off_unless_asked_for_and_only_in_us_east_1(template: dict[str, Any]) -> None:
    edge = {name for name, res in template["Resources"].items() if res.get("Condition") == "HasEdge"}
    assert edge == {"EdgeWebAcl", "EdgeDistribution"}
    assert evaluate_conditions(template, {})["HasEdge"] is False
    assert evaluate_conditions(template, {"EdgeProtection": "true"})["HasEdge"] is True
    # A distribution's web ACL has scope CLOUDFRONT, which AWS WAF keeps in us-east-1 only.
    rule = template["Rules"]["EdgeOnlyInUsEast1"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "EdgeProtection"}, "true"]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    assert template["Resources"]["EdgeWebAcl"]["Properties"]["Scope"] == "CLOUDFRONT"


@pytest.mark.parametrize(("method", "path"), sorted(EXPECTED_ROUTES - OPEN_ROUTES))
def test_a_keyed_route_asked_without_a_key_is_refused_at_the_edge(acl: dict[str, Any], method: str, path: str) -> None:
    # GIVEN a route that needs the key, e.g. POST /predict: an anonymous flood on it used up key holders' throttle
    concrete = path.replace("{asset}", "docs.js")
    # WHEN it is asked without any key, THEN the web ACL refuses it with API Gateway's own 403 body
    assert blocked_by(acl, method, concrete, {"content-type": "application/json"}) == "keyed-route-without-a-key"
    rule = next(rule for rule in acl["Rules"] if rule["Name"] == "keyed-route-without-a-key")
    response = rule["Action"]["Block"]["CustomResponse"]
    assert response["ResponseCode"] == 403
    assert acl["CustomResponseBodies"][response["CustomResponseBodyKey"]]["Content"] == '{"message":"Forbidden"}'
    # AND with a key in either form the client may send, it goes on to the authorizer (which checks its value)
    assert blocked_by(acl, method, concrete, {"x-api-key": "k"}) is None
    assert blocked_by(acl, method, concrete, {"Authorization": "Bearer k"}) is None


@pytest.mark.parametrize(("method", "path"), sorted(OPEN_ROUTES))
def test_the_open_routes_and_preflights_pass_the_edge_without_a_key(
    acl: dict[str, Any], method: str, path: str
) -> None:
    assert blocked_by(acl, method, path, {}) is None
    preflight = {"origin": "https://app.example.com", "access-control-request-method": "POST"}
    assert blocked_by(acl, "OPTIONS", "/predict", preflight) is None
    # AND only the GET is open: POST / is the keyed Hugging Face route, and any other method needs the key too
    assert blocked_by(acl, "POST", path, {}) == "keyed-route-without-a-key"


def test_one_address_is_limited_below_what_the_keyed_routes_get(template: dict[str, Any], acl: dict[str, Any]) -> None:
    (rule,) = [rule for rule in acl["Rules"] if "RateBasedStatement" in rule["Statement"]]
    rate = rule["Statement"]["RateBasedStatement"]
    assert rate["AggregateKeyType"] == "IP" and rate["Limit"] == {"Ref": "EdgeRateLimitPerIp"}
    assert rule["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429
    parameters = template["Parameters"]
    limit, window = int(parameters["EdgeRateLimitPerIp"]["Default"]), int(rate["EvaluationWindowSec"])
    assert int(parameters["EdgeRateLimitPerIp"]["MinValue"]) == 10  # AWS WAF's lowest allowed limit
    assert limit / window < int(parameters["ThrottleRateLimit"]["Default"])
    assert acl["DefaultAction"] == {"Allow": {}}
    assert len({rule["Priority"] for rule in acl["Rules"]}) == len(acl["Rules"])


def test_the_distribution_sends_every_request_and_both_key_headers_to_the_http_api(template: dict[str, Any]) -> None:
    config = template["Resources"]["EdgeDistribution"]["Properties"]["DistributionConfig"]
    assert config["WebACLId"] == {"Fn::GetAtt": ["EdgeWebAcl", "Arn"]}
    (origin,) = config["Origins"]
    assert "HttpApi" in references(origin["DomainName"])
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert origin["CustomOriginConfig"]["OriginReadTimeout"] > 29  # the routes' integration timeout
    behavior = config["DefaultCacheBehavior"]
    assert behavior["TargetOriginId"] == origin["Id"] and behavior["ViewerProtocolPolicy"] == "https-only"
    assert {"GET", "POST", "OPTIONS"} <= set(behavior["AllowedMethods"])
    # No answer is cached; every viewer header, x-api-key and Authorization included, reaches the authorizer.
    assert behavior["CachePolicyId"] == CACHING_DISABLED
    assert behavior["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    assert template["Outputs"]["EdgeUrl"]["Condition"] == "HasEdge"


def test_the_edge_survives_the_sam_transform() -> None:
    rendered = render({**overrides("prod"), "EdgeProtection": "true"})
    assert resources_of_type(rendered, "AWS::WAFv2::WebACL") and resources_of_type(
        rendered, "AWS::CloudFront::Distribution"
    )
