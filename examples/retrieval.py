"""Python twin of retrieval.yaml: text -> image and composed (image + text) queries.

    python examples/retrieval.py "a photo of a cat" [FOLDER]
"""

import sys
from pathlib import Path

from socratic.nodes.clip import Compose, EmbedImage, EmbedText
from socratic.recipes.retrieval import Search
from socratic.vision.clip_open import OpenClipModel

HERE = Path(__file__).parent

if __name__ == "__main__":
    text = sys.argv[1] if len(sys.argv) > 1 else "a photo of a cat"
    folder = sys.argv[2] if len(sys.argv) > 2 else str(HERE / "images")
    clip = OpenClipModel(model="ViT-B-32", pretrained="laion2b_s34b_b79k")
    search = Search(clip, images=folder, k=3)
    print("text ->", search.run(query=EmbedText(clip).run(text=text)["embedding"]))
    rocket = EmbedImage(clip).run(image=str(HERE / "images" / "rocket.jpg"))["embedding"]
    night = EmbedText(clip).run(text="at night")["embedding"]
    print("rocket + 'at night' ->", search.run(query=Compose().run(image=rocket, text=night)["embedding"]))
