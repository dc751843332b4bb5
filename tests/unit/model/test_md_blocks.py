"""The block scanner on markdown-it-py tokens: kinds, lines and nesting a mapper relies on."""

from __future__ import annotations

import pytest

from runwright.errors import RunbookError
from runwright.model.md_blocks import plain_text, scan

DOC = """Title
=====

- [ ] first item
  continued here {run="test -f x"}
  ```sh
  echo nested
  ```
  - [x] nested item
- plain item

~~~bash {name=tilde}
echo tilde
~~~

| a | b |
|---|---|
| 1 | 2 |

> quoted
> text

<!-- a comment -->

    indented code

---
"""


def test_blocks_keep_kind_lines_and_the_item_they_sit_in() -> None:
    blocks = scan(DOC, "d.md")
    kinds = [(b.kind, b.line, b.end) for b in blocks]
    assert kinds == [
        ("heading", 1, 2),
        ("item", 4, 5),
        ("fence", 6, 8),
        ("item", 9, 9),
        ("item", 10, 10),
        ("fence", 12, 14),
        ("table", 16, 18),
        ("quote", 20, 21),
        ("html", 23, 23),
        ("fence", 25, 25),
        ("rule", 27, 27),
    ]
    heading, first, nested_fence, nested_item, plain = blocks[:5]
    assert (heading.text, heading.level) == ("Title", 1)
    assert first.checkbox
    assert first.text == "first item continued here"
    assert first.attrs == {"run": "test -f x"}
    assert nested_fence.parent is first
    assert (nested_fence.lang, nested_fence.text) == ("sh", "echo nested")
    assert nested_item.parent is first
    assert nested_item.checkbox
    assert plain.parent is None
    assert not plain.checkbox
    tilde = blocks[5]
    assert (tilde.lang, tilde.attrs, tilde.text) == ("bash", {"name": "tilde"}, "echo tilde")
    assert blocks[9].lang == "indented"


def test_lines_count_from_the_front_matter_offset() -> None:
    text = "---\nname: x\n---\n# T\n\n```sh\necho\n```\n"
    blocks = scan(text, "d.md", 3)
    assert [(b.kind, b.line) for b in blocks] == [("heading", 4), ("fence", 6)]


def test_an_unclosed_fence_runs_to_the_end() -> None:
    blocks = scan("# T\n\n```bash\necho a\necho b\n", "d.md")
    assert blocks[-1].kind == "fence"
    assert blocks[-1].text == "echo a\necho b"


def test_broken_attributes_point_at_their_column() -> None:
    with pytest.raises(RunbookError) as caught:
        scan('- [ ] item {run="open}\n', "d.md")
    assert (caught.value.line, caught.value.column) == (1, 12)


@pytest.mark.parametrize(
    ("markdown", "text"),
    [
        ("**Product owner** approved", "Product owner approved"),
        ("the `v2` release", "the v2 release"),
        ("see [the milestone](https://x/m/2)", "see the milestone"),
        ("_screenshots_ updated", "screenshots updated"),
        ("plain words, {{ port }}", "plain words, {{ port }}"),
    ],
)
def test_inline_markdown_as_plain_text(markdown: str, text: str) -> None:
    assert plain_text(markdown) == text
