"""Each trend connector against a local server answering like the platform."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from werkzeug import Response

from backend.integrations import IntegrationError
from backend.trends.sources.base import CredentialsRejected, RateLimited
from backend.trends.sources.facebook import FacebookSource
from backend.trends.sources.graph import graph_error_hook
from backend.trends.sources.http import HttpClient
from backend.trends.sources.instagram import InstagramSource, MemoryHashtagBudget
from backend.trends.sources.linkedin import LinkedInSource
from backend.trends.sources.rss import RssSource, sample_feeds
from backend.trends.sources.x import XSource

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
X_401 = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
X_429 = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
}
GRAPH_190 = {
    "error": {
        "message": "Error validating access token: Session has expired",
        "type": "OAuthException",
        "code": 190,
        "error_subcode": 463,
        "fbtrace_id": "A1b2C3",
    }
}


def http(platform, **kw):
    return HttpClient(platform, retry_pause=0, clock=lambda: NOW, **kw)


def graph_http(platform):
    return http(platform, error_hook=graph_error_hook(platform))


# --- X ---------------------------------------------------------------------------------


def x_source(httpserver, **kw):
    return XSource(
        bearer_token="real-token",
        queries=["collagen"],
        woeid=kw.pop("woeid", ""),
        base_url=httpserver.url_for(""),
        http=http("x"),
        **kw,
    )


def tweet(i, text, likes, tags=()):
    return {
        "id": str(1800000000000000000 + i),
        "text": text,
        "created_at": "2026-11-25T10:00:00.000Z",
        "edit_history_tweet_ids": [str(1800000000000000000 + i)],
        "public_metrics": {
            "retweet_count": 0,
            "reply_count": 1,
            "like_count": likes,
            "quote_count": 0,
            "bookmark_count": 0,
            "impression_count": 100,
        },
        "entities": {"hashtags": [{"start": 0, "end": len(t) + 1, "tag": t} for t in tags]},
    }


def test_x_counts_search_and_woeid_become_aggregate_signals(httpserver):
    auth = {"Authorization": "Bearer real-token"}
    httpserver.expect_request("/2/tweets/counts/recent", headers=auth).respond_with_json(
        {
            "data": [
                {
                    "end": "2026-11-25T00:00:00.000Z",
                    "start": "2026-11-24T00:00:00.000Z",
                    "tweet_count": 700,
                },
                {
                    "end": "2026-11-25T12:00:00.000Z",
                    "start": "2026-11-25T00:00:00.000Z",
                    "tweet_count": 534,
                },
            ],
            "meta": {"total_tweet_count": 1234},
        },
        headers={
            "x-rate-limit-limit": "300",
            "x-rate-limit-remaining": "299",
            "x-rate-limit-reset": "1764072000",
        },
    )
    tweets = [
        tweet(
            i, f"@fan{i} collagen glow day {i} https://t.co/abc #CollagenGlow", i, ["CollagenGlow"]
        )
        for i in range(4)
    ]
    httpserver.expect_request("/2/tweets/search/recent", headers=auth).respond_with_json(
        {
            "data": tweets,
            "meta": {
                "newest_id": tweets[-1]["id"],
                "oldest_id": tweets[0]["id"],
                "result_count": 4,
            },
        }
    )
    httpserver.expect_request(
        "/2/trends/by/woeid/1",
        query_string={"max_trends": "50", "trend.fields": "trend_name,tweet_count"},
        headers=auth,
    ).respond_with_json({"data": [{"trend_name": "#GutHealth", "tweet_count": 52000}]})
    signals = x_source(httpserver, woeid="1").fetch(NOW)

    query, tag, woeid = signals
    assert (query.external_id, query.topic, query.volume) == ("query:collagen", "collagen", 1234)
    assert query.url == "https://x.com/search?q=collagen"
    assert query.snippet.startswith("@fan3")  # most engaged; handles are stripped when stored
    assert (tag.external_id, tag.topic, tag.volume) == ("hashtag:collagenglow", "#collagenglow", 4)
    assert (woeid.topic, woeid.volume) == ("#GutHealth", 52000)
    assert woeid.published_at == NOW
    assert woeid.url == "https://x.com/search?q=%23GutHealth"
    search = [r for r, _ in httpserver.log if r.path == "/2/tweets/search/recent"][0]
    assert search.args["query"] == "collagen -is:retweet lang:en"
    assert search.args["tweet.fields"] == "created_at,public_metrics,entities"


def test_x_401_is_credentials_rejected(httpserver):
    httpserver.expect_request("/2/tweets/counts/recent").respond_with_json(X_401, status=401)
    with pytest.raises(CredentialsRejected) as caught:
        x_source(httpserver).fetch(NOW)
    assert caught.value.permanent
    assert len(httpserver.log) == 1  # never retried


def test_x_429_backs_off_until_the_reset_header(httpserver):
    reset = int((NOW + timedelta(minutes=12)).timestamp())
    httpserver.expect_request("/2/tweets/counts/recent").respond_with_json(
        X_429,
        status=429,
        headers={
            "x-rate-limit-limit": "300",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(reset),
        },
    )
    with pytest.raises(RateLimited) as caught:
        x_source(httpserver).fetch(NOW)
    assert caught.value.retry_at == NOW + timedelta(minutes=12)
    assert len(httpserver.log) == 1  # no sleeping, no retry inside the run


def test_5xx_is_retried_once_then_reported_temporary(httpserver):
    httpserver.expect_request("/2/tweets/counts/recent").respond_with_json(
        {"title": "Service Unavailable", "status": 503}, status=503
    )
    with pytest.raises(IntegrationError) as caught:
        x_source(httpserver).fetch(NOW)
    assert not caught.value.permanent and "retried next run" in caught.value.message
    assert len(httpserver.log) == 2


def test_timeout_is_temporary(httpserver):
    def slow(_request):
        time.sleep(0.3)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/2/tweets/counts/recent").respond_with_handler(slow)
    source = XSource(
        bearer_token="t",
        queries=["collagen"],
        base_url=httpserver.url_for(""),
        http=HttpClient("x", timeout=0.05, retry_pause=0),
    )
    with pytest.raises(IntegrationError) as caught:
        source.fetch(NOW)
    assert not caught.value.permanent and "timed out" in caught.value.message


def test_retry_after_header_is_used_when_there_is_no_x_reset(httpserver):
    httpserver.expect_request("/rest/posts").respond_with_json(
        {"status": 429, "message": "Resource level throttle limit exceeded"},
        status=429,
        headers={"Retry-After": "120"},
    )
    source = LinkedInSource(
        access_token="t",
        organization_urn="urn:li:organization:1",
        base_url=httpserver.url_for(""),
        http=http("linkedin"),
    )
    with pytest.raises(RateLimited) as caught:
        source.fetch(NOW)
    assert caught.value.retry_at == NOW + timedelta(seconds=120)


# --- Facebook --------------------------------------------------------------------------


def test_facebook_page_posts_follow_cursor_paging(httpserver):
    base = httpserver.url_for("")
    page1 = {
        "data": [
            {
                "id": "111_1",
                "message": "Beetroot and #HeartHealth: what we know\nmore",
                "created_time": "2026-11-24T09:30:00+0000",
                "permalink_url": "https://www.facebook.com/111/posts/1",
                "shares": {"count": 41},
            },
            {"id": "111_2", "created_time": "2026-11-24T08:00:00+0000"},
        ],  # photo, no message
        "paging": {
            "cursors": {"before": "QVFIUmFi", "after": "QVFIUjNx"},
            "next": f"{base}111/posts?after=QVFIUjNx",
        },
    }
    page2 = {
        "data": [
            {
                "id": "111_3",
                "message": "Magnesium for sleep?",
                "created_time": "2026-11-23T20:00:00+0000",
                "permalink_url": "https://www.facebook.com/111/posts/3",
            }
        ],
        "paging": {"cursors": {"before": "QVFIUjZz", "after": "QVFIUkxx"}},
    }
    httpserver.expect_ordered_request("/111/posts").respond_with_json(
        page1,
        headers={"x-app-usage": json.dumps({"call_count": 5, "total_cputime": 1, "total_time": 2})},
    )
    httpserver.expect_ordered_request(
        "/111/posts",
        query_string={
            "fields": "id,message,created_time,permalink_url,shares",
            "limit": "25",
            "access_token": "page-token",
            "after": "QVFIUjNx",
        },
    ).respond_with_json(page2)
    source = FacebookSource(
        page_token="page-token", page_ids=["111"], base_url=base, http=graph_http("facebook")
    )

    signals = source.fetch(NOW)

    assert [s.external_id for s in signals] == ["111_1", "111_3"]
    assert signals[0].topic == "Beetroot and heart health: what we know"
    assert signals[0].volume == 42 and signals[0].url == "https://www.facebook.com/111/posts/1"
    assert signals[0].published_at == datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)


def test_facebook_oauth_error_is_credentials_rejected(httpserver):
    httpserver.expect_request("/111/posts").respond_with_json(GRAPH_190, status=400)
    source = FacebookSource(
        page_token="expired",
        page_ids=["111"],
        base_url=httpserver.url_for(""),
        http=graph_http("facebook"),
    )
    with pytest.raises(CredentialsRejected):
        source.fetch(NOW)


def test_facebook_throttle_code_waits_for_business_use_case_header(httpserver):
    usage = {
        "1234": [
            {
                "type": "pages",
                "call_count": 100,
                "total_cputime": 25,
                "total_time": 25,
                "estimated_time_to_regain_access": 17,
            }
        ]
    }
    httpserver.expect_request("/111/posts").respond_with_json(
        {
            "error": {
                "message": "(#32) Page request limit reached",
                "type": "OAuthException",
                "code": 32,
                "fbtrace_id": "x",
            }
        },
        status=400,
        headers={"x-business-use-case-usage": json.dumps(usage)},
    )
    source = FacebookSource(
        page_token="t",
        page_ids=["111"],
        base_url=httpserver.url_for(""),
        http=graph_http("facebook"),
    )
    with pytest.raises(RateLimited) as caught:
        source.fetch(NOW)
    assert caught.value.retry_at == NOW + timedelta(minutes=17)


# --- Instagram -------------------------------------------------------------------------


def instagram(httpserver, budget, hashtags=("guthealth",)):
    return InstagramSource(
        access_token="ig-token",
        user_id="17841400000000001",
        hashtags=list(hashtags),
        budget=budget,
        base_url=httpserver.url_for(""),
        http=graph_http("instagram"),
    )


def test_instagram_hashtag_search_then_top_and_recent_media(httpserver):
    httpserver.expect_request(
        "/ig_hashtag_search",
        query_string={"user_id": "17841400000000001", "q": "guthealth", "access_token": "ig-token"},
    ).respond_with_json({"data": [{"id": "17843857450040591"}]})
    top = {
        "data": [
            {
                "id": "1",
                "caption": "My #guthealth routine with @bestie: kefir + fiber",
                "like_count": 900,
                "comments_count": 40,
                "media_type": "IMAGE",
                "timestamp": "2026-11-25T08:00:00+0000",
            },
            {
                "id": "2",
                "caption": "prebiotic fiber ftw",
                "like_count": 10,
                "comments_count": 0,
                "media_type": "CAROUSEL_ALBUM",
                "timestamp": "2026-11-24T08:00:00+0000",
            },
        ],
        "paging": {"cursors": {"after": "QVFIU"}},
    }
    recent = {
        "data": [
            {
                "id": "3",
                "caption": "gut reset day 3",
                "media_type": "VIDEO",
                "timestamp": "2026-11-25T11:00:00+0000",
            }
        ]
    }
    httpserver.expect_request("/17843857450040591/top_media").respond_with_json(top)
    httpserver.expect_request("/17843857450040591/recent_media").respond_with_json(recent)
    budget = MemoryHashtagBudget()

    [signal] = instagram(httpserver, budget).fetch(NOW)

    assert (signal.external_id, signal.topic) == ("hashtag:guthealth", "#guthealth")
    assert signal.volume == 3 + 950
    assert signal.url == "https://www.instagram.com/explore/tags/guthealth/"
    assert signal.snippet.startswith("My #guthealth routine")
    assert signal.published_at == datetime(2026, 11, 25, 11, 0, tzinfo=timezone.utc)
    assert budget.new_uses == {"guthealth": NOW}
    media_call = [r for r, _ in httpserver.log if r.path.endswith("/top_media")][0]
    assert media_call.args["user_id"] == "17841400000000001"
    assert "username" not in media_call.args["fields"]


def test_instagram_refuses_hashtags_beyond_30_per_7_days(httpserver):
    used = {f"tag{i}": NOW - timedelta(days=1) for i in range(30)}
    used["oldtag"] = NOW - timedelta(days=8)  # outside the rolling window: no longer counts
    budget = MemoryHashtagBudget(used)
    httpserver.expect_request("/ig_hashtag_search").respond_with_json({"data": []})
    source = instagram(httpserver, budget, hashtags=["newtag", "tag3"])

    assert source.fetch(NOW) == []

    assert source.refused == ["newtag"]
    assert "refused: #newtag" in source.notes()
    searched = [r.args["q"] for r, _ in httpserver.log]
    assert searched == ["tag3"]  # a hashtag already in the window costs nothing


# --- LinkedIn --------------------------------------------------------------------------


def test_linkedin_org_posts_with_version_headers_and_paging(httpserver):
    headers = {
        "Authorization": "Bearer li-token",
        "LinkedIn-Version": "202610",
        "X-Restli-Protocol-Version": "2.0.0",
    }
    post = {
        "id": "urn:li:share:7001",
        "author": "urn:li:organization:5515715",
        "commentary": "Our take on #IntermittentFasting and electrolytes",
        "publishedAt": 1764000000000,
        "visibility": "PUBLIC",
        "lifecycleState": "PUBLISHED",
    }
    httpserver.expect_ordered_request(
        "/rest/posts",
        headers=headers,
        query_string={
            "author": "urn:li:organization:5515715",
            "q": "author",
            "count": "1",
            "start": "0",
        },
    ).respond_with_json(
        {"elements": [post], "paging": {"start": 0, "count": 1, "links": [], "total": 2}}
    )
    httpserver.expect_ordered_request(
        "/rest/posts",
        headers=headers,
        query_string={
            "author": "urn:li:organization:5515715",
            "q": "author",
            "count": "1",
            "start": "1",
        },
    ).respond_with_json(
        {
            "elements": [{**post, "id": "urn:li:share:7002", "commentary": "Collagen myths"}],
            "paging": {"start": 1, "count": 1, "links": [], "total": 2},
        }
    )
    source = LinkedInSource(
        access_token="li-token",
        organization_urn="urn:li:organization:5515715",
        base_url=httpserver.url_for(""),
        http=http("linkedin"),
        count=1,
    )

    signals = source.fetch(NOW)

    assert [s.external_id for s in signals] == ["urn:li:share:7001", "urn:li:share:7002"]
    assert signals[0].topic == "Our take on intermittent fasting and electrolytes"
    assert signals[0].url == "https://www.linkedin.com/feed/update/urn:li:share:7001/"


def test_linkedin_version_is_a_setting_and_426_means_version_retired(httpserver):
    from backend.config import load_settings
    from backend.trends.bootstrap import build_sources
    from backend.trends.sources.base import VersionRetired

    settings = load_settings(
        {
            "LINKEDIN_ACCESS_TOKEN": "li-real-token",
            "LINKEDIN_ORGANIZATION_URN": "urn:li:organization:1",
            "LINKEDIN_API_BASE": httpserver.url_for(""),
            "LINKEDIN_VERSION": "202401",
        },
        dotenv=False,
    )
    source = next(s for s in build_sources(settings) if s.name == "linkedin")
    source.http = http("linkedin")
    httpserver.expect_request(
        "/rest/posts", headers={"LinkedIn-Version": "202401"}
    ).respond_with_json(
        {
            "status": 426,
            "code": "VERSION_MISSING",
            "message": "Requested version 20240101 is not active",
        },
        status=426,
    )
    with pytest.raises(VersionRetired) as caught:
        source.fetch(NOW)
    assert caught.value.permanent and "version retired" in caught.value.message
    assert len(httpserver.log) == 1  # permanent: not retried


def test_an_old_linkedin_version_is_reported_before_it_is_retired(httpserver):
    httpserver.expect_request("/rest/posts").respond_with_json({"elements": [], "paging": {}})
    kw = {"access_token": "t", "organization_urn": "urn:li:organization:1", "http": http("li")}
    base = httpserver.url_for("")
    current = LinkedInSource(base_url=base, version="202610", **kw)
    current.fetch(NOW)
    old = LinkedInSource(base_url=base, version="202512", **kw)
    old.fetch(NOW)
    assert current.notes() == ""
    assert old.notes().startswith("LINKEDIN_VERSION 202512 is 11 months old")


def test_x_post_reads_stop_at_the_monthly_budget(httpserver):
    auth = {"Authorization": "Bearer real-token"}
    httpserver.expect_request("/2/tweets/counts/recent", headers=auth).respond_with_json(
        {"data": [], "meta": {"total_tweet_count": 500}}
    )
    httpserver.expect_request("/2/tweets/search/recent", headers=auth).respond_with_json(
        {"data": [tweet(i, f"collagen {i}", i) for i in range(25)], "meta": {"result_count": 25}}
    )
    source = XSource(
        bearer_token="real-token",
        queries=["collagen", "blood sugar", "keto"],
        base_url=httpserver.url_for(""),
        http=http("x"),
        monthly_post_reads=1000,
        posts_read=960,
        posts_read_month="post-reads:2026-11",
    )

    source.fetch(NOW)

    searches = [r for r, _ in httpserver.log if r.path == "/2/tweets/search/recent"]
    assert [r.args["max_results"] for r in searches] == ["40", "15"]  # 40 left, then 15
    assert source.quota_amounts() == {"post-reads:2026-11": 50}
    assert source.notes() == (
        "budget used: 1010 of 1000 post reads this month; budget spent, searches skipped: keto"
    )


def test_x_budget_of_a_past_month_does_not_count():
    source = XSource(
        bearer_token="t",
        queries=[],
        monthly_post_reads=100,
        posts_read=100,
        posts_read_month="post-reads:2026-10",
    )
    source.fetch(NOW)
    assert source.posts_read == 0 and source.notes().startswith("budget used: 0 of 100")


def test_graph_version_is_a_setting():
    from backend.config import load_settings
    from backend.trends.bootstrap import build_sources

    default = {s.name: s for s in build_sources(load_settings({}, dotenv=False))}
    assert default["facebook"].base_url == "https://graph.facebook.com/v24.0"
    assert default["instagram"].base_url == "https://graph.facebook.com/v24.0"
    pinned = load_settings({"META_GRAPH_VERSION": "v23.0"}, dotenv=False)
    assert {s.name: s for s in build_sources(pinned)}["facebook"].base_url.endswith("/v23.0")
    legacy = load_settings({"FACEBOOK_API_BASE": "https://graph.facebook.com/v21.0"}, dotenv=False)
    assert {s.name: s for s in build_sources(legacy)}["facebook"].base_url.endswith("/v21.0")


# --- RSS -------------------------------------------------------------------------------


def test_rss_over_http_and_from_bundled_files(httpserver, tmp_path):
    feed = sample_feeds()[0]
    httpserver.expect_request("/feed.xml").respond_with_data(
        Path(feed.removeprefix("file://")).read_bytes(), content_type="application/rss+xml"
    )
    plain_path = tmp_path / "aging.xml"
    plain_path.write_bytes(Path(sample_feeds()[1].removeprefix("file://")).read_bytes())
    source = RssSource(
        feeds=[httpserver.url_for("/feed.xml"), sample_feeds()[2], str(plain_path)],
        http=http("rss"),
    )

    signals = source.fetch(NOW)

    topics = [s.topic for s in signals]
    assert "Intermittent fasting: what a 16:8 schedule looks like in practice" in topics  # http
    assert any(t.startswith("Berberine") for t in topics)  # file://
    assert any(t.startswith("Collagen peptides") for t in topics)  # plain path, Atom
    fasting = next(s for s in signals if s.topic.startswith("Intermittent"))
    assert fasting.url == "https://wellness-daily.example.org/2026/11/intermittent-fasting-16-8"
    assert fasting.published_at == datetime(2026, 11, 24, 7, 30, tzinfo=timezone.utc)
    assert len({s.external_id for s in signals}) == len(signals)


def test_rss_one_broken_feed_does_not_hide_the_others(httpserver):
    httpserver.expect_request("/gone.xml").respond_with_data("not here", status=404)
    source = RssSource(feeds=[httpserver.url_for("/gone.xml"), sample_feeds()[0]], http=http("rss"))
    signals = source.fetch(NOW)
    assert signals and source.failed == [httpserver.url_for("/gone.xml")]
    assert source.notes() == "1 of 2 feeds failed"


def test_rss_all_feeds_failing_fails_the_source(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("this is not xml at all")
    with pytest.raises(IntegrationError):
        RssSource(feeds=[str(bad), str(tmp_path / "missing.xml")]).fetch(NOW)
