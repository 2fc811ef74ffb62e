"""OpenAI-compatible providers added by configuration (the catalog file's ``[[providers]]``), not code."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from services.gateway.dialects.translate_request import Target
from services.gateway.providers.base import Wire
from services.gateway.providers.limits import use_tokens_field
from services.gateway.providers.openai_compat import (
    OpenAICompatProvider,
    alibaba_qwen_by_name,
    chat_cache_markers,
    claude_by_name,
    claude_tool_ids,
    gemini_by_name,
    keeps_reasoning_content,
    openai_by_name,
    openai_call_ids,
    signs_tool_calls,
    unsigned_calls_skip_validation,
)
from services.gateway.routing.config import ProviderSpec


class ConfiguredProvider(OpenAICompatProvider):
    """Ollama, vLLM, Groq, a company proxy: any server with OpenAI's Chat Completions at ``base_url``; with the
    catalog's ``responses = true``, OpenAI's Responses API too (``base_url/responses``: Azure OpenAI, LiteLLM)."""

    def __init__(self, spec: ProviderSpec, api_key: str | None) -> None:
        super().__init__(spec.name, spec.base_url, api_key)
        self.spec = spec
        self.max_tokens_field = spec.max_tokens_field
        if spec.responses:  # the catalog's word: the server speaks OpenAI's Responses API too (bill35)
            self.wires = ("openai_chat", "openai_responses")
            self.wires_by_model = (
                True  # a model it serves on the Responses API only is learned from its refusal
            )

    @property
    def configured(self) -> bool:
        # A provider declared without `api_key_env` needs no key (a local server); otherwise the key's
        # variable must be set, as for the built-in providers.
        return self.spec.api_key_env is None or bool(self._api_key)

    def target(self, model: str) -> Target:
        """OpenAI-compatible as configured; a Claude model (``claude_by_name``: a LiteLLM or other relay in front of
        Anthropic) keeps the client's ``cache_control`` markers on content parts, and a client without markers
        (Responses) gets the gateway's breakpoints, as Claude on OpenRouter does: without them every turn re-bills
        the whole prompt at the full input price (bugcase 08's kind; s18 variant 08-f). So does one of Alibaba's own
        Qwen models (``alibaba_qwen_by_name``: DashScope caches explicitly only at those markers; s26 variant
        08-vAJ). The catalog's ``cache_markers`` decides instead when given (an alias such as ``sonnet``; a server
        that refuses them).
        A DeepSeek, Kimi or GLM model (``keeps_reasoning_content``) gets the history's thinking back as
        ``reasoning_content``, or any model when the catalog's ``reasoning_content`` says so (kind 04, s20). A
        Gemini model (``gemini_by_name``) gets its own thought signatures back, which an Anthropic or Responses
        client carried in the call ids (``Target.thought_signatures``; s24 variant 04-ownsig-vA). A Claude model gets
        the history's Claude-signed thinking back as LiteLLM's ``thinking_blocks`` (``Target.claude_thinking_blocks``:
        LiteLLM docs, "'Thinking' / 'Reasoning Content'"; without them a tool loop lost its thinking, s28 variant
        04-vI). OpenAI's reasoning
        models by name (``openai_by_name``: o1, o3, o4, gpt-5; an Azure deployment or LiteLLM in front of OpenAI) are
        asked by ``max_completion_tokens``, the only field they take (s26 variants 17-azure-o3-*)."""
        target = super().target(model)
        markers = self.spec.cache_markers  # the file's word, for a model served under another name (an alias)
        if (markers is None and (claude_by_name(model) or alibaba_qwen_by_name(model))) or markers:
            target = replace(target, cache_markers=True)
        elif openai_by_name(model):  # OpenAI's model behind a relay: its session key routes to one cache
            # (not where the file says the relay takes cache markers: another server's, review28)
            target = replace(target, prompt_cache_key=True)
        if claude_by_name(model) and not model.lower().rsplit("/", 1)[-1].startswith("databricks-"):
            # Claude's signed thinking goes back as LiteLLM's thinking_blocks (not to Databricks, whose serving
            # of Claude has its own reasoning shape: an unknown field there is not known to be ignored)
            target = replace(target, claude_thinking_blocks=True)
        keeps = self.spec.reasoning_content
        if (keeps is None and keeps_reasoning_content(model)) or keeps:
            target = replace(target, reasoning_content=True)
        if gemini_by_name(model):  # Google's endpoint: its thought signatures go back onto the calls
            target = replace(target, thought_signatures=True)
        if target.reasoning == "reasoning_effort" and openai_by_name(model):
            # OpenAI's reasoning model behind a relay (Azure, LiteLLM): it takes max_completion_tokens only
            target = replace(target, max_tokens_field="max_completion_tokens")
        return target

    def prepare(self, body: dict[str, Any], stream: bool, wire: Wire) -> bool:
        """OpenAI-compatible quirks (usage in streams), and for a model that caches at ``cache_control`` markers
        (``target``: Claude behind LiteLLM or another relay) the body made ready for its cache
        (``chat_cache_markers``): a Chat client's body passes through the gateway untranslated, so without this
        a client that sends no markers cached nothing, five markers were a 400 and ``{}`` one too (s20 variants
        08-x..08-z; the same as Claude on OpenRouter). For Gemini 3 (Google's OpenAI-compatible endpoint), function
        calls of the history that Gemini did not sign get the documented dummy signature
        (``unsigned_calls_skip_validation``; s21 variant 04-vA). A chat client's ``max_tokens`` for OpenAI's reasoning
        models by name (their target's field, ``max_completion_tokens``) is renamed so, as on OpenAI's own provider;
        a field this provider said a model takes (``learned_fields``) is applied by ``Proxy._build``. A Claude
        model (``claude_by_name``) gets the history's call ids in Anthropic's pattern, one per call
        (``claude_tool_ids``: else 400 "String should match pattern" or "`tool_use` ids must be unique"); one of
        OpenAI's by name (``openai_by_name``) gets them within OpenAI's length limit (``openai_call_ids``)."""
        changed = super().prepare(body, stream, wire)
        model = body.get("model")
        target = self.target_of(model) if wire == "openai_chat" and isinstance(model, str) else None
        if target is None:
            return changed
        if target.cache_markers:
            changed = chat_cache_markers(body) or changed
        if signs_tool_calls(target.model):
            changed = unsigned_calls_skip_validation(body) or changed
        if claude_by_name(target.model):
            # a relay hands the history's call ids to Anthropic as they came (LiteLLM until BerriAI/litellm#21964,
            # and one id per call never: maximhq/bifrost#5097): Claude on OpenRouter's rule (``claude_tool_ids``)
            changed = claude_tool_ids(body) or changed
        if openai_by_name(target.model):
            # a relay in front of OpenAI or Azure OpenAI (LiteLLM's proxy) hands the ids on as they are: OpenAI's limit
            changed = openai_call_ids(body, wire) or changed
        if (
            target.reasoning == "reasoning_effort"
            and target.max_tokens_field == "max_completion_tokens"
            and "max_tokens" in body
        ):  # OpenAI's reasoning models behind a relay refuse max_tokens, as OpenAI's own (s26 variant 17-azure-gpt5-*)
            changed = use_tokens_field(body, "max_completion_tokens") or changed
        return changed

    def configured_output_limit(self, model: str) -> int | None:
        """The catalog file's output limit for ``model`` in tokens (``limits."<model>".max_output_tokens``, else the
        provider's ``max_output_tokens``), never above its context window (``context_window``, per model or for
        the provider; docs/catalog.md): no answer is longer than the window its prompt shares, so a server of a
        16384-token window refuses Claude Code's 32000 whatever its words (s25 variant 17-catalog-context-window-vD:
        a window given without an output limit went unread, the 32000 was sent and refused). None when the file
        gives neither."""
        limit, window = self.spec.output_limit(model), self.spec.context_limit(model)
        if window is None:
            return limit
        return window if limit is None else min(limit, window)

    def serves(self, model: str) -> bool:
        return self.spec.serves(model)
