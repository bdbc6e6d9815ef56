"""Few-shot text classification on real names: which language does a name come from?

A *task* is N languages with K example names each (the support set); the learner must tell the
language of new names (the query set). The names come from the real per-locale first- and
last-name lists that ship inside the ``Faker`` package (MIT licence): one example is a full name,
"first last", that Faker composes from one locale's lists. The library ships the names it uses
(``name_lists``, made once with a fixed Faker version), so the data, and every figure of the
notebook, are the same whatever Faker is installed, and nothing needs the network.

* One class = one language, i.e. one Faker locale (``"fi_FI"``: Finnish names).
* Meta-training and meta-test use *disjoint* languages (:data:`META_TEST_LOCALES`): at test time
  the model must separate languages it has never seen, from K names each.
* Characters are encoded one by one (character level): Latin letters keep their Unicode code
  point (0 … 0x24F), anything else becomes one "unknown" symbol, 0 is padding.

The tensors have the layout of the image splits, ``[n_classes, n_per_class, max_len]``, so the
ordinary :class:`~kdmeta_lib.episodes.EpisodeSampler` draws text episodes unchanged. Taught in
notebook 04b.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..support.validation import check_integer
from .name_lists import FAKER_VERSION, NAMES, NAMES_PER_LANGUAGE

PAD, UNKNOWN = 0, 0x250  # padding index; every non-Latin character maps to UNKNOWN
VOCAB_SIZE = UNKNOWN + 1  # code points 0 … 0x24F (Basic Latin … Latin Extended-B) + UNKNOWN

LANGUAGES = {  # one Faker locale per language, all written in the Latin script
    "cs_CZ": "Czech", "de_DE": "German", "en_US": "English", "es_ES": "Spanish",
    "et_EE": "Estonian", "fr_FR": "French", "hr_HR": "Croatian", "id_ID": "Indonesian",
    "is_IS": "Icelandic", "it_IT": "Italian", "lt_LT": "Lithuanian", "nl_NL": "Dutch",
    "no_NO": "Norwegian", "pl_PL": "Polish", "ro_RO": "Romanian", "sl_SI": "Slovenian",
    "sv_SE": "Swedish", "tw_GH": "Twi", "uz_UZ": "Uzbek", "yo_NG": "Yoruba",
    # meta-test: each has a relative above (Danish–Norwegian, Slovak–Czech, ...) but is unseen
    "da_DK": "Danish", "fi_FI": "Finnish", "hu_HU": "Hungarian", "lv_LV": "Latvian",
    "pt_PT": "Portuguese", "sk_SK": "Slovak", "sw": "Swahili", "tr_TR": "Turkish",
    "zu_ZA": "Zulu",
}
META_TEST_LOCALES = ("da_DK", "fi_FI", "hu_HU", "lv_LV", "pt_PT", "sk_SK", "sw", "tr_TR", "zu_ZA")


def faker_full_names(locale: str, n_names: int, seed: int = 0) -> list[str]:
    """``n_names`` distinct full names ("first last", lowercased) from Faker's ``locale`` provider.

    Faker draws the first and the last name from the locale's own name lists (weighted by their
    frequency where Faker knows it; Icelandic patronymics and Polish surnames by its own rules).

    Raises:
        ValueError: Faker has no such locale, or fewer than ``n_names`` distinct names come out.
    """
    check_integer("n_names", n_names)
    check_integer("seed", seed, minimum=0)
    from faker import Faker  # needed only to (re)make the shipped lists of name_lists
    from faker.config import AVAILABLE_LOCALES

    if locale not in AVAILABLE_LOCALES:
        raise ValueError(f"Faker has no locale {locale!r}; pick one of {sorted(LANGUAGES)}")
    fake = Faker(locale)
    fake.seed_instance(seed)
    names: dict[str, None] = {}  # an ordered set: the same seed gives the same list
    for _ in range(20 * n_names):
        names[f"{fake.first_name()} {fake.last_name()}".lower()] = None
        if len(names) == n_names:
            return list(names)
    raise ValueError(f"Faker gave only {len(names)} distinct names for {locale}; "
                     f"ask for n_names ≤ {len(names)}")


def shipped_full_names(locale: str, n_names: int, seed: int = 0) -> list[str]:
    """``n_names`` full names of ``locale`` from the lists shipped in :mod:`.name_lists`.

    ``seed = 0`` gives the first ``n_names`` (what ``faker_full_names(locale, n_names, 0)`` gave
    with the Faker version the lists were made with); another seed, a random subset.

    Raises:
        ValueError: an unknown locale, or more names than the shipped lists hold.
    """
    check_integer("n_names", n_names)
    check_integer("seed", seed, minimum=0)
    if locale not in NAMES:
        raise ValueError(f"no shipped names for locale {locale!r}; pick one of {sorted(NAMES)}")
    if n_names > NAMES_PER_LANGUAGE:
        raise ValueError(f"the shipped lists hold {NAMES_PER_LANGUAGE} names per language, "
                         f"got n_names={n_names}; use faker_full_names for more")
    names = NAMES[locale].split("|")
    if seed:
        order = torch.randperm(len(names), generator=torch.Generator().manual_seed(seed))
        names = [names[i] for i in order.tolist()]
    return names[:n_names]


def encode_names(names: list[str], max_len: int = 12) -> Tensor:
    """Names → character codes, truncated to ``max_len`` and right-padded with ``PAD`` (0).

    Each character becomes its Unicode code point if that is below ``UNKNOWN`` (0x250: Basic
    Latin … Latin Extended-B), else ``UNKNOWN``. This is exactly the rule of the ``encode_name``
    exercise of notebook 04b (``kdmeta_lib.checks.encode_name``), one name at a time.

    Returns:
        ``[len(names), max_len]`` int64.
    """
    check_integer("max_len", max_len, hint="24 characters fit almost every full name")
    codes = torch.full((len(names), max_len), PAD, dtype=torch.int64)
    for row, name in enumerate(names):
        if not name:
            raise ValueError(f"name {row} is empty; every name needs at least one character")
        chars = [ord(c) if ord(c) < UNKNOWN else UNKNOWN for c in name[:max_len]]
        codes[row, :len(chars)] = torch.tensor(chars)
    return codes


def decode_names(codes: Tensor) -> list[str]:
    """The inverse of :func:`encode_names` (unknown characters print as ``?``). ``[B, L]`` → B."""
    return ["".join("?" if c == UNKNOWN else chr(c) for c in row if c != PAD)
            for row in codes.tolist()]


@dataclass(frozen=True)
class TextTaskData:
    """Names per language, split into meta-training and meta-test languages.

    Attributes:
        train: ``[n_train_languages, names_per_language, max_len]`` int64 character codes.
        test: ``[n_test_languages, names_per_language, max_len]``, languages unseen in ``train``.
        train_locales, test_locales: the Faker locale of each row.
        description: where the data came from, printed by :func:`load_name_tasks`.
    """

    train: Tensor
    test: Tensor
    train_locales: tuple[str, ...]
    test_locales: tuple[str, ...]
    description: str


def load_name_tasks(names_per_language: int = 200, max_len: int = 24, seed: int = 0,
                    verbose: bool = True) -> TextTaskData:
    """Build the name-to-language few-shot data: ``names_per_language`` full names per language.

    The names come from the shipped lists (:func:`shipped_full_names`), so the same ``seed``
    gives the same names whatever Faker version is installed (or none).
    """
    rows = {locale: encode_names(shipped_full_names(locale, names_per_language, seed), max_len)
            for locale in LANGUAGES}
    test_locales = META_TEST_LOCALES
    train_locales = tuple(locale for locale in LANGUAGES if locale not in test_locales)
    description = (f"full names composed by Faker {FAKER_VERSION} from its name lists (MIT "
                   f"licence), shipped with kdmeta_lib: {len(train_locales)} "
                   f"meta-training languages, {len(test_locales)} unseen meta-test languages "
                   f"({', '.join(LANGUAGES[locale] for locale in test_locales)}), "
                   f"{names_per_language} names each")
    if verbose:
        print(description)
    return TextTaskData(torch.stack([rows[locale] for locale in train_locales]),
                        torch.stack([rows[locale] for locale in test_locales]),
                        train_locales, test_locales, description)


if __name__ == "__main__":  # regenerate name_lists.py's NAMES lines (needs Faker)
    for code in LANGUAGES:
        print(f'    "{code}": "' + "|".join(faker_full_names(code, NAMES_PER_LANGUAGE)) + '",')
