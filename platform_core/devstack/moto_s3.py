"""moto's S3 server, as the local S3 of `make dev` and the tests: run `python -m
platform_core.devstack.moto_s3 -H host -p port` (moto_server's arguments).

Like S3 it answers browsers only as the bucket's CORS rule says (moto's allow-all CORS is off, see
`s3.local_s3`), but moto leaves the rule's headers out of the answer to a form upload (POST to the
bucket), so a browser would refuse that answer where S3's is accepted. This adds them, as S3 does.
"""

from __future__ import annotations

import sys
from typing import Any


def _with_cors_headers() -> None:
    """Make moto's answer to a form upload carry the CORS headers of the bucket's matching rule."""
    from moto.s3.responses import S3Response

    upload = S3Response._bucket_response_post

    def bucket_response_post(self: Any, request: Any, bucket_name: str) -> Any:
        status, headers, body = upload(self, request, bucket_name)
        if not self.is_delete_keys():
            headers = {**self._get_cors_headers_other(), **headers}
        return status, headers, body

    S3Response._bucket_response_post = bucket_response_post  # type: ignore[method-assign]


def main() -> None:
    """Run moto's server with form uploads answered as S3 answers them."""
    from moto.server import main as moto_main

    _with_cors_headers()
    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
