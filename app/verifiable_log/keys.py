"""The checkpoint signing keys: loaded from a setting or a file (never from the database), and the public keys
document `GET /v1/audit/keys` serves and `riskapi audit monitor --keys` / `riskapi receipt verify` accept as is."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.config import Environment, Settings
from app.verifiable_log.note import InvalidKeyError, Signer, Verifier, generate_signer
from app.verifiable_log.schemas import KEYS_FORMAT, LogKeysDocument, PublishedKey

DEVELOPMENT_KEY_NAME = "riskapi-dev"


class LogKeyError(ValueError):
    """A configured key does not parse (the message names the setting or the file and line, never the key)."""


@dataclass(frozen=True)
class LogKeys:
    """The deployment's checkpoint keys: `signers` sign every checkpoint, `retired` are published only."""

    origin_prefix: str
    signers: tuple[Signer, ...]
    retired: tuple[Verifier, ...] = ()

    def origin(self, organisation_slug: str) -> str:
        """The origin line of the organisation's checkpoints: `<prefix>/<slug>`."""
        return f"{self.origin_prefix}/{organisation_slug}"

    @property
    def verifiers(self) -> tuple[Verifier, ...]:
        """Every published key: the signing keys' verifiers, then the retired ones."""
        return tuple(signer.verifier for signer in self.signers) + self.retired

    def document(self) -> LogKeysDocument:
        published = [_published(signer.verifier, "signing") for signer in self.signers]
        published += [_published(verifier, "retired") for verifier in self.retired]
        return LogKeysDocument(format=KEYS_FORMAT, origin_prefix=self.origin_prefix, keys=published)


def _published(verifier: Verifier, status: str) -> PublishedKey:
    return PublishedKey.model_validate(
        {
            "name": verifier.name,
            "key_id": f"{verifier.key_id:08x}",
            "verifier_key": verifier.key,
            "algorithm": "ed25519",
            "status": status,
        }
    )


def parse_key_lines(text: str, source: str) -> tuple[tuple[Signer, ...], tuple[Verifier, ...]]:
    """Signer keys (`PRIVATE+KEY+...`) and retired verifier keys, one per line; blank lines and `#` comments are
    skipped. Raises LogKeyError naming `source` and the line."""
    signers: list[Signer] = []
    retired: list[Verifier] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            if line.startswith("PRIVATE+KEY+"):
                signers.append(Signer.from_key(line))
            else:
                retired.append(Verifier.from_key(line))
        except InvalidKeyError as error:
            raise LogKeyError(f"{source}, line {number}: {error}") from None
    return tuple(signers), tuple(retired)


def load_log_keys(settings: Settings) -> LogKeys:
    """The keys the settings name: RISKAPI_LOG_SIGNING_KEY, else RISKAPI_LOG_SIGNING_KEY_FILE, else (development
    only) the key `riskapi dev-setup` wrote, else none (nothing is signed; the keys document is empty)."""
    prefix = settings.origin_prefix
    if settings.log_signing_key is not None:
        signers, retired = parse_key_lines(settings.log_signing_key.get_secret_value(), "RISKAPI_LOG_SIGNING_KEY")
    elif settings.log_signing_key_file is not None:
        try:
            text = settings.log_signing_key_file.read_text(encoding="utf-8")
        except OSError as error:
            raise LogKeyError(f"RISKAPI_LOG_SIGNING_KEY_FILE cannot be read: {error.strerror}") from None
        signers, retired = parse_key_lines(text, str(settings.log_signing_key_file))
    elif settings.environment is Environment.development and settings.dev_log_key_path.exists():
        signers, retired = parse_key_lines(settings.dev_log_key_path.read_text(encoding="utf-8"), "dev key")
    else:
        return LogKeys(prefix, ())
    if not signers and (settings.log_signing_key is not None or settings.log_signing_key_file is not None):
        raise LogKeyError("the checkpoint key setting holds no signer key (PRIVATE+KEY+...)")
    return LogKeys(prefix, signers, retired)


def new_signer_key(name: str) -> str:
    """A fresh signer key line for a key file or RISKAPI_LOG_SIGNING_KEY."""
    return generate_signer(name)[0]


def verifiers_of(document: LogKeysDocument) -> list[Verifier]:
    """The verifiers a keys document publishes, each checked against its stated name and key id."""
    verifiers: list[Verifier] = []
    for published in document.keys:
        try:
            verifier = Verifier.from_key(published.verifier_key)
        except InvalidKeyError as error:
            raise LogKeyError(f"key {published.name}: {error}") from None
        if verifier.name != published.name or f"{verifier.key_id:08x}" != published.key_id:
            raise LogKeyError(f"key {published.name}: name or key_id does not match its verifier_key")
        verifiers.append(verifier)
    return verifiers
