"""The recipe settings match the paper's tables (parsed from docs/method.md)."""

import os
import re

import pytest

from fixnorm_experiments import recipes

METHOD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
                      "method.md")

# Table 2's model column (with epochs) -> recipe name.
TABLE2_NAMES = {
    ("MobileNetV2", 150): "mobilenet_v2_150",
    ("MobileNetV2", 350): "mobilenet_v2_350",
    ("EfficientNet-B0", 350): "efficientnet_b0_350",
    ("EfficientNet-B1", 350): "efficientnet_b1_350",
    ("MobileNetV2 x1.12*", 350): "mobilenet_v2_x1.12_tricks_350",
    ("MobileNetV2 x1.54*", 350): "mobilenet_v2_x1.54_tricks_350",
    ("ResNet50-D", 120): "resnet50_d_120",
    ("ResNet50-D", 350): "resnet50_d_350",
    ("ResNet50-D*", 350): "resnet50_d_se_tricks_350",
}


def table2_rows():
    with open(METHOD, encoding="utf-8") as f:
        text = f.read()
    start = text.index("### Table 2")
    section = text[start:text.index("\n#", start + 1)]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 8 and cells[1].isdigit():
            rows.append(cells)
    return rows


def test_every_table2_row_is_a_recipe_with_the_papers_numbers():
    rows = table2_rows()
    assert len(rows) == len(TABLE2_NAMES)
    for model, epochs, top1, ref_top1, _params, _flops, lr, alpha in rows:
        recipe = recipes.get(TABLE2_NAMES[(model, int(epochs))])
        assert recipe.epochs == int(epochs)
        assert recipe.fixnorm == recipes.FixNormSettings(float(lr), float(alpha))
        assert recipe.paper_top1_fixnorm == float(top1)
        ref = re.match(r"^([\d.]+)", ref_top1)
        assert recipe.paper_top1_reference == (float(ref.group(1)) if ref else None)
        assert ("†" in ref_top1) == ("basic setting" in recipe.notes)
        assert (recipe.tricks is not None) == model.endswith("*")


def test_table1_reference_settings_and_table5():
    assert recipes.get("resnet50_d_120").reference == recipes.ReferenceSettings(0.4, 1e-4)
    assert recipes.get("mobilenet_v2_150").reference == recipes.ReferenceSettings(0.2, 4e-5)
    gn = recipes.get("resnet50_d_se_tricks_gn_350")
    assert (gn.norm, gn.fixnorm, gn.paper_top1_fixnorm) == (
        "group", recipes.FixNormSettings(1.4, 1.0), 80.92)


def test_listing_and_errors():
    table = recipes.listing()
    for name in recipes.RECIPES:
        assert name in table
    assert table.splitlines()[1].startswith("------")  # the one formatter's rule
    assert "78.62" in table and "0.0001" in table
    with pytest.raises(ValueError, match="did you mean 'resnet50_d_120'"):
        recipes.get("resnet50d_120")
    with pytest.raises(ValueError, match="no reference settings"):
        recipes.get("efficientnet_b0_350").settings("reference")
    with pytest.raises(ValueError, match="flavour must be one of"):
        recipes.get("resnet50_d_120").settings("bo")
    assert recipes.get("resnet50_d_120").settings("fixnorm").alpha == 0.5


def test_every_recipe_model_builds_with_its_norm():
    """Each recipe's model (registry name and norm) builds; small input keeps it quick."""
    import dataclasses

    from fixnorm_experiments import tasks

    for recipe in recipes.of_task("classification"):
        small = dataclasses.replace(recipe, num_classes=10,
                                    image_size=64 if recipe.dataset != "digits" else 8)
        model = tasks.make(small).build_model()
        assert model.output_shape == (None, 10), recipe.name
        assert model.get_layer("classifier") is not None
