"""osspolicy's private modules: the machinery under the public API (`osspolicy`'s
`__all__`, `osspolicy.emulator` and its pytest plugin).

Anything here may change in any release without a CHANGELOG entry; import from
`osspolicy` instead. The flow, module by module, is in README.md ("Layout").
"""

__all__ = ()
