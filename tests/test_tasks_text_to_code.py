"""ConCode-style context of `text_to_code` on small Java and Kotlin classes written here."""

from __future__ import annotations

import hashlib

import pandas as pd

from codesweep.tasks.text_to_code import AMBIGUOUS, build_text_to_code

ACCOUNT = """\
package bank;

public class Account {
    private final String owner;
    private long balance = 0, limit;
    static int OPENED;

    /**
     * Returns {@code true} if the {@link Ledger#post(long, String) ledger} accepts the
     * amount, as {@link #limit} and {@literal <limits>} say.<p>Never negative.
     * @param amount the amount
     * @return {@code true} when posted
     */
    public boolean deposit(long amount) {
        balance += amount;
        return true;
    }

    public long withdraw(long amount, // minor units
                         String memo /* shown on the statement */) {
        balance -= amount;
        return balance;
    }

    /** The balance, in <code>cents</code>. */
    public long balance() { return balance; }
}
"""

PROFILE = """\
class Profile(val id: Long, name: String, var email: String = "") {
    private val tags: List<String> = listOf()

    /** Returns the {@code email} domain. */
    fun domain(): String {
        return email.substringAfter("@")
    }
}
"""


def files(*sources: tuple[str, str, str]) -> pd.DataFrame:
    """Prepared-file rows for (path, language, text) sources."""
    return pd.DataFrame([{"repo": "r", "revision": "0" * 40, "path": path, "language": language,
                          "text": text, "split": "train",
                          "sha": hashlib.sha256(text.encode()).hexdigest()}
                         for path, language, text in sources])


def kept(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["drop_reason"] == ""]


def test_context_lists_the_class_fields_with_type_and_name() -> None:
    out = kept(build_text_to_code(files(("Account.java", "java", ACCOUNT),
                                        ("Profile.kt", "kotlin", PROFILE)), {}, seed=0))
    deposit = out[out["function"] == "Account.deposit"].iloc[0]
    assert deposit["fields"].splitlines() == ["String owner", "long balance", "long limit",
                                              "int OPENED"]
    assert "// class Account fields:\n//     String owner\n//     long balance\n" \
        in deposit["prompt"]
    domain = out[out["function"] == "Profile.domain"].iloc[0]
    # a plain constructor parameter (`name`) is not a property
    assert domain["fields"].splitlines() == ["val id: Long", "var email: String",
                                             "val tags: List<String>"]


def test_member_signatures_carry_no_comments() -> None:
    out = kept(build_text_to_code(files(("Account.java", "java", ACCOUNT)), {}, seed=0))
    deposit = out[out["function"] == "Account.deposit"].iloc[0]
    assert "public long withdraw(long amount, String memo)" in deposit["members"].splitlines()
    for prompt in out["prompt"]:
        context = [line.removeprefix("// ") for line in prompt.splitlines()]
        assert not [line for line in context if "//" in line or "/*" in line], prompt
        assert "minor units" not in prompt and "statement" not in prompt


def test_summary_is_plain_text_without_javadoc_markup() -> None:
    out = kept(build_text_to_code(files(("Account.java", "java", ACCOUNT),
                                        ("Profile.kt", "kotlin", PROFILE)), {}, seed=0))
    summaries = dict(zip(out["function"], out["summary"], strict=True))
    assert summaries["Account.deposit"] == ("Returns true if the ledger accepts the amount, "
                                            "as limit and <limits> say.")
    assert summaries["Account.balance"] == "The balance, in cents."
    assert summaries["Profile.domain"] == "Returns the email domain."
    for prompt in out["prompt"]:
        assert "{@" not in prompt and "<code>" not in prompt and "<p>" not in prompt
        assert "@param" not in prompt and "@return" not in prompt


def overloaded_class(others: int) -> str:
    """A class with `others` documented methods, then three overloads sharing one Javadoc."""
    methods = [f"    /** Step {n}. */\n    public int step{n}() {{\n        return {n};\n    }}\n"
               for n in range(others)]
    overloads = [f"    /** Formats the value. */\n    public String format({kind} value) {{\n"
                 f"        return String.valueOf(value) + \"{kind}\";\n    }}\n"
                 for kind in ("int", "long", "double")]
    return "public class Formatter {\n" + "\n".join(methods + overloads) + "}\n"


def assert_no_prompt_has_two_targets(out: pd.DataFrame) -> None:
    targets = kept(out).groupby("prompt")["completion"].nunique()
    assert (targets == 1).all(), targets[targets > 1]


def test_overloads_past_the_member_cap_get_distinct_prompts() -> None:
    out = build_text_to_code(files(("Formatter.java", "java", overloaded_class(20))), {}, seed=0)
    assert_no_prompt_has_two_targets(out)
    formats = kept(out)[kept(out)["function"] == "Formatter.format"]
    assert len(formats) == 3  # none dropped: each shows the other overloads' parameters
    assert "public String format(long value)" in formats.iloc[0]["members"].splitlines()


def test_prompts_that_cannot_be_told_apart_are_dropped_and_counted() -> None:
    out = build_text_to_code(files(("Formatter.java", "java", overloaded_class(2))),
                             {"max_members": 0}, seed=0)
    assert_no_prompt_has_two_targets(out)
    assert (out["drop_reason"] == AMBIGUOUS).sum() == 2  # the first overload is kept
    assert (kept(out)["function"] == "Formatter.format").sum() == 1
