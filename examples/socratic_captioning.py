"""Python twin of socratic_captioning.yaml: CLIP -> LLM -> CLIP.

    python examples/socratic_captioning.py IMAGE
"""

import json
import sys
from pathlib import Path

from socratic import Graph, Image
from socratic.llm.openai_backend import OpenAILLM
from socratic.nodes.clip import ClipRank
from socratic.nodes.llm import Generate
from socratic.recipes.socratic_caption import SocraticEvidence
from socratic.vision.clip_open import OpenClipModel

HERE = Path(__file__).parent


def build(llm, clip, candidates: int = 10) -> Graph:
    g = Graph("socratic-captioning")
    g.add_input("image", Image)
    g.add("evidence", SocraticEvidence(clip), image="inputs.image")
    g.add("write", Generate(llm, prompt="socratic_caption", n=candidates, temperature=0.9, max_tokens=40),
          img_type="evidence.img_type", num_people="evidence.num_people",
          places="evidence.places", objects="evidence.objects")
    g.add("rerank", ClipRank(clip), image="inputs.image", texts="write.text")
    g.add_output("caption", "rerank.best")
    g.add_output("ranked", "rerank.ranked")
    g.add_output("scores", "rerank.scores")
    return g


if __name__ == "__main__":
    image = sys.argv[1] if len(sys.argv) > 1 else str(HERE / "images" / "astronaut.jpg")
    graph = build(OpenAILLM(model="gpt-4o-mini"),
                  OpenClipModel(model="ViT-B-32", pretrained="laion2b_s34b_b79k"))
    print(json.dumps(graph.run(image=image), indent=2))
