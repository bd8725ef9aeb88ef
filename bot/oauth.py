"""The install pages of a multi-workspace install, for the aiohttp web server to serve.

`GET /slack/install` sends the user to Slack's consent screen; Slack sends them back to
`GET /slack/oauth_redirect`, where Bolt exchanges the code (oauth.v2.access) and saves the
workspace's installation. Both are Bolt's OAuth flow, adapted to aiohttp by Bolt's adapter.
"""

from __future__ import annotations

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow


def oauth_routes(flow: AsyncOAuthFlow) -> list[web.RouteDef]:
    async def install(request: web.Request) -> web.Response:
        return await to_aiohttp_response(
            await flow.handle_installation(await to_bolt_request(request))
        )

    async def redirect(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await flow.handle_callback(await to_bolt_request(request)))

    return [web.get(flow.install_path, install), web.get(flow.redirect_uri_path, redirect)]
