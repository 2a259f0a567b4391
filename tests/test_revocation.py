"""Which tokens a user's sign-ins still honour (chatd.auth.revocation, pure)."""

from __future__ import annotations

import pytest

from chatd.auth.revocation import (
    OTHER_USER,
    SIGNED_OUT,
    SIGNED_OUT_EVERYWHERE,
    Resumes,
    StoredSignIn,
    refusal,
)
from chatd.auth.tokens import Claim

CLAIM = Claim(user_id=7, epoch="e1", sign_in=3, generation=2, issued=1000)


@pytest.mark.parametrize(("generation", "stored", "expected"), [
    (2, StoredSignIn(3, 7, None), None),
    (1, StoredSignIn(3, 7, None), None),  # a database restored from before the user signed out everywhere
    (3, StoredSignIn(3, 7, None), SIGNED_OUT_EVERYWHERE),
    (2, StoredSignIn(3, 7, 1_700_000_000_000), SIGNED_OUT),
    (3, StoredSignIn(3, 7, 1_700_000_000_000), SIGNED_OUT_EVERYWHERE),
    (2, StoredSignIn(3, 8, None), OTHER_USER),
    (2, None, None),  # not stored here: the caller stores it, then asks again
])
def test_refusal(generation, stored, expected):
    assert refusal(CLAIM, generation, stored) == expected


def test_a_token_from_before_sign_ins_is_of_generation_0():
    legacy = Claim(7, "", None, 0, 1000, legacy="ab" * 32)
    assert refusal(legacy, 0, None) is None
    assert refusal(legacy, 1, None) == SIGNED_OUT_EVERYWHERE


def test_a_sign_out_refuses_the_resumes_under_way_of_that_sign_in_only():
    resumes = Resumes()
    same, other, stranger = resumes.begin(7, 3), resumes.begin(7, 4), resumes.begin(8, 3)
    resumes.sign_out(7, 3)
    assert (same.refused, other.refused, stranger.refused) == (SIGNED_OUT, None, None)
    resumes.sign_out(7, None)
    assert other.refused == SIGNED_OUT_EVERYWHERE and stranger.refused is None
    for resume in (same, other, stranger):
        resumes.end(resume)
    late = resumes.begin(7, 3)
    resumes.end(late)
    resumes.sign_out(7, None)
    assert late.refused is None, "a resume that ended is not touched"
