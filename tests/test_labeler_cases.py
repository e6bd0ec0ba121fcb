"""Hand-written report-language cases for the report labeler.

Each case is a sentence (or a short run of sentences) written the way MIMIC-CXR / OpenI chest
radiograph reports read, with what a radiologist means by it, following the CheXpert labeler's
conventions (negation -> absent, hedges -> uncertain, "cannot be excluded" and "no new" ->
uncertain, change words keep a finding present, "resolved" -> absent).

CASES rows: (text, finding name or CheXpert observation, expected status, extras or None).
Extras may hold:
    side / zone / lobe  - the expected Location fields (None means "no such field")
    change              - the expected change (None means "no change recorded")
    mention             - a substring of the mention, to pick one mention when the name occurs
                          more than once in the text
Every mention that matches the name (and mention filter) must carry the expected status and
extras, so a case also fails when a second, wrongly-read mention of the same finding appears.
"""

from __future__ import annotations

import re

import pytest

from chestx_reasoner.reports.labeler import ReportLabeler

PRESENT, ABSENT, UNCERTAIN = "present", "absent", "uncertain"
_LOCATION_KEYS = ("side", "zone", "lobe")

CASES: list[tuple[str, str, str, dict | None]] = [
    # --- Negation, several forms ------------------------------------------------------------
    ("No pleural effusion.", "pleural effusion", ABSENT, None),
    ("There is no pneumothorax.", "Pneumothorax", ABSENT, None),
    ("No evidence of pneumonia.", "Pneumonia", ABSENT, None),
    ("There is no evidence of pulmonary edema.", "Edema", ABSENT, None),
    ("The lungs are clear without focal consolidation.", "Consolidation", ABSENT, None),
    ("Lungs are free of focal consolidation.", "Consolidation", ABSENT, None),
    ("Pneumothorax is not seen.", "Pneumothorax", ABSENT, None),
    ("No focal airspace consolidation is seen.", "Consolidation", ABSENT, None),
    ("No definite pneumothorax.", "Pneumothorax", ABSENT, None),
    ("No displaced rib fractures are identified.", "Fracture", ABSENT, None),
    ("No suspicious pulmonary nodules.", "Lung Lesion", ABSENT, None),
    ("No pulmonary vascular congestion.", "Edema", ABSENT, None),
    ("Negative for pneumothorax.", "Pneumothorax", ABSENT, None),
    # A device's placement after a denied complication is a statement of its own.
    ("No evidence of pneumothorax following placement of the chest tube.", "chest tube",
     PRESENT, None),
    ("No pneumothorax, indicating appropriate placement of the central venous catheter.",
     "central venous catheter", PRESENT, None),
    ("No pneumothorax after removal of the chest tube.", "chest tube", ABSENT, None),
    ("No distinct pleural line indicating a pneumothorax is identified.", "Pneumothorax",
     ABSENT, None),
    ("No pneumothorax or pleural effusion following the procedure.", "Pleural Effusion",
     ABSENT, None),
    # --- Negated lists: every item is negated ---------------------------------------------------
    ("No effusion, pneumothorax, or consolidation.", "Pleural Effusion", ABSENT, None),
    ("No effusion, pneumothorax, or consolidation.", "Pneumothorax", ABSENT, None),
    ("No effusion, pneumothorax, or consolidation.", "Consolidation", ABSENT, None),
    ("There is no focal consolidation, pleural effusion or pneumothorax.",
     "Pneumothorax", ABSENT, None),
    ("No pleural effusion or pneumothorax.", "Pneumothorax", ABSENT, None),
    ("No evidence of focal consolidation, pleural effusion, pneumothorax, or pulmonary edema.",
     "Edema", ABSENT, None),
    ("The lungs are clear without consolidation or edema.", "Edema", ABSENT, None),
    ("The lungs are clear without consolidation, effusion, or pneumothorax. Mild cardiomegaly.",
     "Cardiomegaly", PRESENT, None),
    ("There is no large pleural effusion, pneumothorax, or focal consolidation to suggest "
     "pneumonia.", "Pneumonia", ABSENT, None),
    ("There is mild bibasilar atelectasis without focal consolidation.", "Atelectasis",
     PRESENT, {"side": "bilateral", "zone": "base"}),
    # --- Uncertainty, several forms ---------------------------------------------------------
    ("Possible small left pleural effusion.", "pleural effusion", UNCERTAIN, {"side": "left"}),
    ("Probable small right pleural effusion.", "pleural effusion", UNCERTAIN, {"side": "right"}),
    ("Pneumonia cannot be excluded.", "Pneumonia", UNCERTAIN, None),
    ("Superimposed infection cannot be excluded.", "Pneumonia", UNCERTAIN, None),
    ("Cannot exclude early pneumonia.", "Pneumonia", UNCERTAIN, None),
    ("A small pneumothorax is not excluded.", "Pneumothorax", UNCERTAIN, None),
    ("Questionable small right apical pneumothorax.", "Pneumothorax", UNCERTAIN,
     {"side": "right", "zone": "apex"}),
    ("Right lower lobe opacity may represent atelectasis or pneumonia.",
     "Atelectasis", UNCERTAIN, None),
    ("Right lower lobe opacity may represent atelectasis or pneumonia.",
     "Pneumonia", UNCERTAIN, None),
    ("Right lower lobe opacity may represent atelectasis or pneumonia.",
     "Lung Opacity", PRESENT, {"side": "right", "lobe": "right lower lobe"}),
    ("Bibasilar opacities, atelectasis versus pneumonia.", "Atelectasis", UNCERTAIN, None),
    ("Bibasilar opacities, atelectasis versus pneumonia.", "Pneumonia", UNCERTAIN, None),
    ("Bibasilar opacities, atelectasis versus pneumonia.", "Lung Opacity", PRESENT,
     {"side": "bilateral", "zone": "base"}),
    ("Left basilar opacity concerning for pneumonia.", "Pneumonia", UNCERTAIN, None),
    ("Left basilar opacity concerning for pneumonia.", "Lung Opacity", PRESENT,
     {"side": "left", "zone": "base"}),
    ("Findings are suspicious for pneumonia.", "Pneumonia", UNCERTAIN, None),
    ("Left basilar atelectasis or consolidation.", "Atelectasis", UNCERTAIN, None),
    ("Left basilar atelectasis or consolidation.", "Consolidation", UNCERTAIN, None),
    ("Patchy opacities in the lung bases may reflect atelectasis or aspiration.",
     "Pneumonia", UNCERTAIN, None),
    ("Hazy opacity at the right base, which may represent atelectasis.",
     "Atelectasis", UNCERTAIN, None),
    ("Mild interstitial edema is possible.", "Edema", UNCERTAIN, None),
    # CheXpert convention: "likely" and "suggestive of" assert the finding (its uncertainty
    # patterns hedge "possible", "probable", "suspicious for", "suggestion of", not these).
    ("Left lower lobe opacity, likely atelectasis.", "Atelectasis", PRESENT, None),
    ("Borderline cardiomegaly.", "Cardiomegaly", UNCERTAIN, None),
    ("Heart size is borderline enlarged.", "Cardiomegaly", UNCERTAIN, None),
    # The upper limit of normal is normal; "borderline" is the hedge.
    ("Heart size is top normal.", "Cardiomegaly", ABSENT, None),
    ("The heart size is at the upper limits of normal.", "Cardiomegaly", ABSENT, None),
    ("Cardiac silhouette is top-normal in size, unchanged.", "Cardiomegaly", ABSENT, None),
    ("Heart size is high normal. No pleural effusion.", "Cardiomegaly", ABSENT, None),
    ("Mild pulmonary vascular congestion.", "Edema", PRESENT, None),  # CheXpert: Edema
    # --- Real MIMIC wording the labeler once misread ---------------------------------------
    ("The previously seen right pneumothorax is no longer visible.", "Pneumothorax", ABSENT,
     None),
    ("A small left apical pneumothorax is not definitely appreciated.", "Pneumothorax",
     ABSENT, None),
    ("Findings are more compatible with atelectasis than pneumonia.", "Pneumonia", ABSENT,
     None),
    ("Findings are more compatible with atelectasis than pneumonia.", "Atelectasis", PRESENT,
     None),
    ("Small left pleural effusion, if any.", "Pleural Effusion", UNCERTAIN, None),
    # Degenerative change of the spine and a tortuous aorta, in the words reports use.
    ("Degenerative endplate changes of the spine.", "spinal degeneration", PRESENT, None),
    ("Mild degenerative disc change at the thoracic spine.", "spinal degeneration", PRESENT,
     None),
    ("There is mild thoracic spine degenerative change.", "spinal degeneration", PRESENT, None),
    ("Tortuous and ectatic appearing aorta.", "tortuous aorta", PRESENT, None),
    ("Mild tortuosity of the descending thoracic aorta.", "tortuous aorta", PRESENT, None),
    ("The aorta is tortuous.", "tortuous aorta", PRESENT, None),
    # Lung markings missing beyond the pleural line are a pneumothorax, whose own negation
    # denies nothing else in the sentence.
    ("Absence of lung markings beyond the pleural line indicates a right pneumothorax.",
     "Pneumothorax", PRESENT, None),
    ("There is a visible pleural line with absence of lung markings beyond it, consistent "
     "with a pneumothorax.", "Pneumothorax", PRESENT, None),
    ("No lung markings are seen beyond the pleural line at the right apex.", "Pneumothorax",
     PRESENT, None),
    ("There is no pleural line or absence of lung markings to suggest a pneumothorax.",
     "Pneumothorax", ABSENT, None),
    ("No acute abnormality such as pneumonia or pneumothorax.", "Pneumothorax", ABSENT, None),
    # Orthopedic hardware in the words reports use.
    ("Prosthetic right shoulder.", "Support Devices", PRESENT, None),
    ("Right humeral internal fixation hardware is noted.", "Support Devices", PRESENT, None),
    # A deformity on a chest film is a bone's; a compression deformity is a fracture.
    ("There is a deformity within the midthoracic spine.", "bone deformity", PRESENT, None),
    ("Within the posterior lateral 8th rib there is a deformity along the cortex.",
     "bone deformity", PRESENT, None),
    ("Mild compression deformity of T8.", "Fracture", PRESENT, None),
    # A finding raised for the clinician to consider is a hedge, not a finding.
    ("The possibility of supervening pneumonia must be seriously considered in the "
     "appropriate clinical setting.", "Pneumonia", UNCERTAIN, None),
    ("In the appropriate clinical setting, superimposed pneumonia would have to be "
     "considered.", "Pneumonia", UNCERTAIN, None),
    ("Aspiration should be considered.", "Pneumonia", UNCERTAIN, None),
    ("Consider early pneumonia.", "Pneumonia", UNCERTAIN, None),
    ("Atelectasis is favored, though pneumonia remains a consideration.", "Pneumonia",
     UNCERTAIN, None),
    ("Atelectasis is favored, though pneumonia remains a consideration.", "Atelectasis",
     PRESENT, None),
    ("Superimposed edema is a possibility.", "Edema", UNCERTAIN, None),
    # ... and one judged improbable is called against.
    ("Pneumonia is unlikely.", "Pneumonia", ABSENT, None),
    ("A significant pleural effusion is considered unlikely.", "Pleural Effusion", ABSENT,
     None),
    ("The opacity is unlikely to represent pneumonia.", "Pneumonia", ABSENT, None),
    ("Pneumonia is less likely.", "Pneumonia", UNCERTAIN, None),
    ("Kerley B-lines are noted at the lung bases.", "Edema", PRESENT, None),
    # A resolved differential is gone, whichever finding it was.
    ("Interval resolution of streaky opacities at the right base consistent with either "
     "resolved atelectasis or pneumonia.", "Atelectasis", ABSENT, None),
    ("Interval resolution of streaky opacities at the right base consistent with either "
     "resolved atelectasis or pneumonia.", "Pneumonia", ABSENT, None),
    ("Right basilar opacity, atelectasis or pneumonia.", "Pneumonia", UNCERTAIN, None),
    # "X or other complications" lists, it does not weigh alternatives.
    ("Right pneumothorax or other complication of the line placement.", "Pneumothorax",
     PRESENT, {"side": "right"}),
    ("No pneumothorax or other complication.", "Pneumothorax", ABSENT, None),
    # A colon opens a new statement: a negation before it does not deny the list after it.
    ("Without signs of pneumonia, the findings match option B: pleural effusion, lung opacity.",
     "Pleural Effusion", PRESENT, None),
    ("Without signs of pneumonia, the findings match option B: pleural effusion, lung opacity.",
     "Pneumonia", ABSENT, None),
    ("No acute process: small left pleural effusion is noted.", "Pleural Effusion", PRESENT,
     {"side": "left"}),
    ("Impression: no pneumothorax.", "Pneumothorax", ABSENT, None),
    # A plan says where to look and for what; it states nothing seen.
    ("Look for a pleural edge with no vessels beyond it.", "Pneumothorax", UNCERTAIN, None),
    ("Check for blunting of the costophrenic angles.", "Pleural Effusion", UNCERTAIN, None),
    # The pleural line is a pneumothorax's sign, not a catheter ("line").
    ("No pleural line is visible at either apex.", "Pneumothorax", ABSENT, None),
    ("A thin pleural line is seen at the right apex.", "Pneumothorax", PRESENT,
     {"side": "right", "zone": "apex"}),
    ("There is no air in the pleural space.", "Pneumothorax", ABSENT, None),
    ("Septal lines and increased interstitial markings.", "Edema", PRESENT,
     {"mention": "Septal"}),
    ("Increased pulmonary vascular congestion since the prior study.", "Edema", PRESENT,
     None),
    ("Scarring at the right lung base is unchanged.", "Lung Opacity", PRESENT, None),
    ("Some element of elevated pulmonary venous pressure.", "Edema", PRESENT, None),
    ("Findings suggestive of mild pulmonary edema.", "Edema", PRESENT, None),
    ("Right basilar opacity could reflect atelectasis, though infection is not excluded.",
     "Pneumonia", UNCERTAIN, None),
    # --- Positive statements that contain hedge-looking words --------------------------------
    ("Findings are consistent with mild pulmonary edema.", "Edema", PRESENT, None),
    # --- "no new" ----------------------------------------------------------------------------
    ("No new consolidation.", "Consolidation", UNCERTAIN, None),
    ("No new focal opacity.", "Lung Opacity", UNCERTAIN, None),
    # --- Pseudo-negation: the finding is there ------------------------------------------------
    ("No change in the small left pleural effusion.", "pleural effusion", PRESENT,
     {"side": "left", "change": "unchanged"}),
    ("No significant change in moderate cardiomegaly.", "Cardiomegaly", PRESENT,
     {"change": "unchanged"}),
    ("No increase in the small right pleural effusion.", "pleural effusion", PRESENT,
     {"side": "right"}),
    # --- Change words ------------------------------------------------------------------------
    ("Stable small bilateral pleural effusions.", "pleural effusion", PRESENT,
     {"side": "bilateral", "change": "unchanged"}),
    ("Interval increase in the right pleural effusion.", "pleural effusion", PRESENT,
     {"side": "right", "change": "increased"}),
    ("Decreased left lower lobe atelectasis.", "Atelectasis", PRESENT,
     {"lobe": "left lower lobe", "change": "decreased"}),
    ("New left retrocardiac opacity.", "Lung Opacity", PRESENT,
     {"side": "left", "zone": "retrocardiac", "change": "new"}),
    ("Improving right upper lobe pneumonia.", "Pneumonia", PRESENT,
     {"lobe": "right upper lobe", "change": "decreased"}),
    ("Worsening pulmonary edema.", "Edema", PRESENT, {"change": "increased"}),
    ("Moderate pulmonary edema has improved.", "Edema", PRESENT, {"change": "decreased"}),
    ("Moderate cardiomegaly is unchanged.", "Cardiomegaly", PRESENT, {"change": "unchanged"}),
    ("Stable moderate cardiomegaly.", "Cardiomegaly", PRESENT, {"change": "unchanged"}),
    ("Persistent left lower lobe consolidation.", "Consolidation", PRESENT,
     {"lobe": "left lower lobe", "change": "unchanged"}),
    ("Slight interval decrease in size of the right apical pneumothorax.", "Pneumothorax",
     PRESENT, {"side": "right", "zone": "apex", "change": "decreased"}),
    ("The left pleural effusion is smaller.", "pleural effusion", PRESENT,
     {"side": "left", "change": "decreased"}),
    ("Right lower lobe consolidation is slightly larger.", "Consolidation", PRESENT,
     {"lobe": "right lower lobe", "change": "increased"}),
    ("Small left pleural effusion, new since the prior study.", "pleural effusion", PRESENT,
     {"side": "left", "change": "new"}),
    ("Multiple right-sided rib fractures are again seen.", "Fracture", PRESENT,
     {"side": "right", "change": "unchanged"}),
    ("Bilateral pleural effusions, right greater than left.", "pleural effusion", PRESENT,
     {"side": "bilateral", "change": None}),
    # --- Resolution / removal ---------------------------------------------------------------
    ("Pulmonary edema has resolved.", "Edema", ABSENT, {"change": "resolved"}),
    ("Interval resolution of the right pleural effusion.", "pleural effusion", ABSENT,
     {"side": "right", "change": "resolved"}),
    ("The previously seen left pleural effusion has resolved.", "pleural effusion", ABSENT,
     {"side": "left", "change": "resolved"}),
    ("The endotracheal tube has been removed.", "Support Devices", ABSENT,
     {"change": "resolved"}),
    ("The right-sided chest tube has been removed.", "chest tube", ABSENT, {"side": "right"}),
    ("Interval removal of the left PICC line.", "Support Devices", ABSENT, {"side": "left"}),
    ("Resolved left lower lobe pneumonia.", "Pneumonia", ABSENT,
     {"lobe": "left lower lobe", "change": "resolved"}),
    ("The left basilar opacity is no longer seen.", "Lung Opacity", ABSENT,
     {"change": "resolved"}),
    ("The right pleural effusion has partially resolved.", "pleural effusion", PRESENT,
     {"side": "right", "change": "decreased"}),
    # A finding that has not cleared persists: the "not" denies the change, not the finding.
    ("An earlier focus of consolidation in the right lung base has not cleared.",
     "Consolidation", PRESENT, {"side": "right", "change": "unchanged"}),
    ("The right pleural effusion has not resolved.", "pleural effusion", PRESENT,
     {"side": "right", "change": "unchanged"}),
    ("Left lower lobe opacity has not completely resolved since the prior study.",
     "Lung Opacity", PRESENT, {"change": "unchanged"}),
    ("Bibasilar atelectasis is incompletely resolved.", "Atelectasis", PRESENT, None),
    # --- Normality statements on structures ----------------------------------------------------
    ("Heart size is normal.", "Cardiomegaly", ABSENT, None),
    ("Normal heart size.", "Cardiomegaly", ABSENT, None),
    ("The cardiac silhouette is not enlarged.", "Cardiomegaly", ABSENT, None),
    ("The heart is normal in size.", "Cardiomegaly", ABSENT, None),
    ("The cardiomediastinal silhouette is within normal limits.",
     "Enlarged Cardiomediastinum", ABSENT, None),
    ("Mediastinal contours are unremarkable.", "Enlarged Cardiomediastinum", ABSENT, None),
    ("The mediastinum is unremarkable.", "Enlarged Cardiomediastinum", ABSENT, None),
    ("Heart size and mediastinal contours are normal.", "Cardiomegaly", ABSENT, None),
    ("Heart size and mediastinal contours are normal.", "Enlarged Cardiomediastinum", ABSENT,
     None),
    ("Stable cardiomediastinal silhouette.", "Enlarged Cardiomediastinum", UNCERTAIN, None),
    ("The costophrenic angles are sharp.", "Pleural Effusion", ABSENT, None),
    ("Normal pulmonary vascularity.", "Edema", ABSENT, None),
    ("Heart size remains moderately enlarged.", "Cardiomegaly", PRESENT,
     {"change": "unchanged"}),
    ("Widened mediastinum.", "Enlarged Cardiomediastinum", PRESENT, None),
    # --- Enlargement said of a structure -----------------------------------------------------
    ("Mildly enlarged cardiac silhouette.", "Cardiomegaly", PRESENT, None),
    ("The heart is mildly enlarged.", "Cardiomegaly", PRESENT, None),
    ("Heart size is mildly enlarged.", "Cardiomegaly", PRESENT, None),
    # --- Laterality, zones and lobes --------------------------------------------------------
    ("Opacity in the right upper lobe.", "Lung Opacity", PRESENT,
     {"side": "right", "lobe": "right upper lobe"}),
    ("Bibasilar atelectasis.", "Atelectasis", PRESENT, {"side": "bilateral", "zone": "base"}),
    # A side written with a plural zone is that side's base, not both.
    ("There is a large area of consolidation at the right lung bases.", "Consolidation",
     PRESENT, {"side": "right", "zone": "base"}),
    ("Streaky opacities at the left bases likely reflect atelectasis.", "Lung Opacity",
     PRESENT, {"side": "left", "zone": "base"}),
    # The side before a mention is its own; one after it may open the next phrase.
    ("A small left apical pneumothorax remains after removal of the right chest tube.",
     "Pneumothorax", PRESENT, {"side": "left", "zone": "apex"}),
    ("A small left apical pneumothorax remains after removal of the right chest tube.",
     "chest tube", ABSENT, {"side": "right"}),
    ("Small effusion on the right.", "pleural effusion", PRESENT, {"side": "right"}),
    ("Small right pleural effusion.", "Pleural Effusion", PRESENT, {"side": "right"}),
    ("Left-sided pleural effusion.", "Pleural Effusion", PRESENT, {"side": "left"}),
    ("Small left apical pneumothorax.", "Pneumothorax", PRESENT,
     {"side": "left", "zone": "apex"}),
    ("Linear atelectasis in the lingula.", "Atelectasis", PRESENT,
     {"side": "left", "lobe": "lingula"}),
    ("Patchy opacity at the right lung base.", "Lung Opacity", PRESENT,
     {"side": "right", "zone": "base"}),
    ("Bilateral perihilar opacities.", "Lung Opacity", PRESENT,
     {"side": "bilateral", "zone": "perihilar"}),
    ("Moderate right and small left pleural effusions.", "Pleural Effusion", PRESENT,
     {"side": "bilateral"}),
    ("Small left pleural effusion and right basilar atelectasis.", "Pleural Effusion",
     PRESENT, {"side": "left"}),
    ("Small left pleural effusion and right basilar atelectasis.", "Atelectasis", PRESENT,
     {"side": "right", "zone": "base"}),
    ("Left lower lobe collapse.", "Atelectasis", PRESENT, {"lobe": "left lower lobe"}),
    ("Subsegmental atelectasis in the right middle lobe.", "Atelectasis", PRESENT,
     {"lobe": "right middle lobe"}),
    ("Increased RLL opacity.", "Lung Opacity", PRESENT,
     {"lobe": "right lower lobe", "change": "increased"}),
    ("Interval placement of a left chest tube with decrease in the left pneumothorax.",
     "Pneumothorax", PRESENT, {"side": "left", "change": "decreased"}),
    # --- Finer findings roll up ----------------------------------------------------------------
    ("A 1 cm nodule in the right upper lobe.", "Lung Lesion", PRESENT,
     {"lobe": "right upper lobe"}),
    ("Right hilar mass.", "Lung Lesion", PRESENT, {"side": "right", "zone": "perihilar"}),
    ("Nodular opacity in the left lower lobe.", "Lung Lesion", PRESENT,
     {"lobe": "left lower lobe"}),
    ("Left apical pleural thickening.", "Pleural Other", PRESENT,
     {"side": "left", "zone": "apex"}),
    ("Patchy right lower lobe infiltrate.", "Lung Opacity", PRESENT,
     {"lobe": "right lower lobe"}),
    ("Multifocal airspace disease.", "Lung Opacity", PRESENT, None),
    ("Old healed left rib fractures.", "Fracture", PRESENT, {"side": "left"}),
    # --- Devices -----------------------------------------------------------------------------
    ("Endotracheal tube terminates 4 cm above the carina.", "Support Devices", PRESENT, None),
    ("ET tube tip is 5 cm above the carina.", "Support Devices", PRESENT, None),
    ("Nasogastric tube courses below the diaphragm.", "Support Devices", PRESENT, None),
    ("Right PICC line tip in the distal SVC.", "Support Devices", PRESENT, {"side": "right"}),
    ("Right internal jugular central venous catheter terminates in the mid SVC.",
     "Support Devices", PRESENT, {"side": "right"}),
    ("Left chest tube in place.", "chest tube", PRESENT, {"side": "left"}),
    # Sternotomy wires are post-surgical changes, not support devices (CheXpert does not count
    # them), and "intact" does not negate them.
    ("Median sternotomy wires are intact.", "postsurgical changes", PRESENT, None),
    ("Left-sided dual-chamber pacemaker with leads in the right atrium and right ventricle.",
     "Support Devices", PRESENT, {"mention": "pacemaker", "side": "left"}),
    ("Tracheostomy tube in standard position.", "Support Devices", PRESENT, None),
    ("Dobhoff tube tip in the stomach.", "Support Devices", PRESENT, None),
    ("Right IJ line tip projects over the cavoatrial junction.", "Support Devices", PRESENT,
     {"side": "right"}),
    ("Unchanged position of the endotracheal tube.", "Support Devices", PRESENT,
     {"change": "unchanged"}),
    ("Lines and tubes are unchanged in position.", "Support Devices", PRESENT,
     {"change": "unchanged"}),
    # --- De-identification placeholders ---------------------------------------------------------
    ("Compared to ___ there is a new small left pleural effusion.", "pleural effusion",
     PRESENT, {"side": "left", "change": "new"}),
    ("Right PICC line terminates at ___.", "Support Devices", PRESENT, {"side": "right"}),
    ("XXXX right lower lobe opacity.", "Lung Opacity", PRESENT, {"lobe": "right lower lobe"}),
    ("No XXXX of pneumothorax.", "Pneumothorax", ABSENT, None),
    # --- Multi-sentence: negation and hedges stop at the sentence / clause ---------------------
    ("No pneumothorax. Small left pleural effusion.", "Pleural Effusion", PRESENT,
     {"side": "left"}),
    ("No pleural effusion. There is mild pulmonary edema.", "Edema", PRESENT, None),
    ("No pneumothorax, but there is a small left pleural effusion.", "Pleural Effusion",
     PRESENT, {"side": "left"}),
    ("No focal consolidation, although there is mild bibasilar atelectasis.", "Atelectasis",
     PRESENT, {"side": "bilateral", "zone": "base"}),
    ("No pneumothorax is seen. Small bilateral pleural effusions with adjacent atelectasis.",
     "Atelectasis", PRESENT, None),
    ("Possible small left pleural effusion. Mild cardiomegaly.", "Cardiomegaly", PRESENT,
     None),
    ("Stable cardiomegaly with mild pulmonary edema.", "Edema", PRESENT, None),
    ("Lungs are clear. There is no pneumothorax; a small right pleural effusion is present.",
     "Pleural Effusion", PRESENT, {"side": "right"}),
    ("Pneumonia cannot be excluded. Moderate right pleural effusion.", "Pleural Effusion",
     PRESENT, {"side": "right"}),
]


def _case_id(case: tuple[str, str, str, dict | None]) -> str:
    text, target, status, _ = case
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48]
    return f"{slug}->{target.replace(' ', '_')}={status}"


_IDS = [_case_id(c) for c in CASES]
assert len(set(_IDS)) == len(_IDS), "case ids must be unique"


@pytest.fixture(scope="module")
def labeler() -> ReportLabeler:
    return ReportLabeler(scope="impression")


def _describe(findings) -> str:
    rows = []
    for f in findings:
        loc = f.location.to_dict() if f.location else None
        rows.append(f"  name={f.name!r} obs={f.observation!r} mention={f.mention!r} "
                    f"status={f.status} location={loc} change={f.change} cues={list(f.cues)}")
    return "\n".join(rows) or "  (no findings)"


def assert_finding(report, target: str, status: str, extras: dict | None) -> None:
    """Every mention of `target` (name or observation) has `status` and the given extras."""
    extras = dict(extras or {})
    mention = extras.pop("mention", None)
    matches = [
        f for f in report.findings
        if target in (f.name, f.observation)
        and (mention is None or mention.lower() in f.mention.lower())
    ]
    context = f"labeler returned:\n{_describe(report.findings)}"
    assert matches, f"no finding named {target!r}; {context}"
    for f in matches:
        assert f.status == status, f"{f.mention!r}: status {f.status}, expected {status}; {context}"
        for key in _LOCATION_KEYS:
            if key in extras:
                got = getattr(f.location, key) if f.location else None
                assert got == extras[key], (
                    f"{f.mention!r}: {key} {got!r}, expected {extras[key]!r}; {context}")
        if "change" in extras:
            assert f.change == extras["change"], (
                f"{f.mention!r}: change {f.change!r}, expected {extras['change']!r}; {context}")


@pytest.mark.parametrize(("text", "target", "status", "extras"), CASES, ids=_IDS)
def test_sentence_case(labeler, text, target, status, extras):
    assert_finding(labeler.label(text), target, status, extras)


# --- Placeholders are never findings ----------------------------------------------------------

PLACEHOLDER_TEXTS = [
    "Comparison is made to the prior study from ___. No pleural effusion.",
    "FINDINGS: PA and lateral views of the chest were compared to ___. The lungs are clear.",
    "The heart is normal in size. XXXX are normal. No pneumothorax.",
    "Dr. ___ was notified of the findings by Dr. ___ at 10:15 on ___.",
    "Calcified granuloma in the XXXX. XXXX deformity of the right clavicle.",
]


@pytest.mark.parametrize("text", PLACEHOLDER_TEXTS,
                         ids=[f"placeholder-{i}" for i in range(len(PLACEHOLDER_TEXTS))])
def test_placeholders_are_never_findings(labeler, text):
    report = labeler.label(text)
    bad = [f for f in report.findings if re.search(r"_{2,}|XXXX", f.mention)]
    assert not bad, f"placeholder read as a finding:\n{_describe(bad)}"


# --- Whole reports: study labels ------------------------------------------------------------

NORMAL_MIMIC = (
    "FINDINGS: PA and lateral views of the chest. The lungs are clear. No pleural effusion or "
    "pneumothorax. Heart size is normal.\n\nIMPRESSION: No acute cardiopulmonary process."
)
FINDINGS_ONLY_CARDIOMEGALY = (
    "FINDINGS: Mild cardiomegaly. Small right pleural effusion. No pneumothorax.\n\n"
    "IMPRESSION: Small right pleural effusion."
)

# (report, scope, expected labels (columns not listed are expected None), id)
REPORT_CASES: list[tuple[str, str, dict[str, int | None], str]] = [
    (NORMAL_MIMIC, "impression", {"No Finding": 1}, "normal-impression-scope"),
    (NORMAL_MIMIC, "report",
     {"No Finding": 1, "Pleural Effusion": 0, "Pneumothorax": 0, "Cardiomegaly": 0},
     "normal-report-scope"),
    ("IMPRESSION: Endotracheal tube terminates 5 cm above the carina. Nasogastric tube "
     "terminates in the stomach. No pneumothorax.",
     "impression", {"Support Devices": 1, "Pneumothorax": 0, "No Finding": 1},
     "devices-only-still-no-finding"),
    ("FINDINGS: Left basilar opacity. Small left pleural effusion.\n\nIMPRESSION:\n"
     "1. Small left pleural effusion.\n2. Left basilar opacity may represent atelectasis or "
     "pneumonia.\n3. No pneumothorax.",
     "impression",
     {"Pleural Effusion": 1, "Lung Opacity": 1, "Atelectasis": -1, "Pneumonia": -1,
      "Pneumothorax": 0},
     "numbered-impression-mixed"),
    (FINDINGS_ONLY_CARDIOMEGALY, "impression", {"Pleural Effusion": 1},
     "impression-scope-ignores-findings"),
    (FINDINGS_ONLY_CARDIOMEGALY, "report",
     {"Pleural Effusion": 1, "Cardiomegaly": 1, "Pneumothorax": 0},
     "report-scope-reads-findings"),
    ("IMPRESSION: No right pleural effusion. Small left pleural effusion.",
     "impression", {"Pleural Effusion": 1}, "positive-beats-negative"),
    ("IMPRESSION: No large pneumothorax. Possible tiny left apical pneumothorax.",
     "impression", {"Pneumothorax": -1}, "uncertain-beats-negative"),
    ("Heart size is normal. The lungs are clear. No pleural effusion or pneumothorax.",
     "impression",
     {"No Finding": 1, "Cardiomegaly": 0, "Pleural Effusion": 0, "Pneumothorax": 0},
     "no-sections-body"),
    ("IMPRESSION: Mild pulmonary vascular congestion without frank pulmonary edema.",
     "impression", {"Edema": -1}, "vascular-congestion-uncertain"),
    ("IMPRESSION: Moderate pulmonary edema, consistent with congestive heart failure.",
     "impression", {"Edema": 1, "Cardiomegaly": -1}, "chf-makes-cardiomegaly-uncertain"),
    ("IMPRESSION: Stable cardiomediastinal silhouette. Right PICC terminates in the low SVC. "
     "No acute cardiopulmonary process.",
     "impression", {"Enlarged Cardiomediastinum": -1, "Support Devices": 1},
     "stable-silhouette-quirk"),
    ("FINDINGS: PA and lateral views of the chest were compared to ___. The lungs are clear.\n\n"
     "IMPRESSION: No acute cardiopulmonary abnormality.",
     "impression", {"No Finding": 1}, "placeholder-normal"),
    ("The heart is normal in size. The mediastinum is unremarkable. The lungs are clear.",
     "impression",
     {"No Finding": 1, "Cardiomegaly": 0, "Enlarged Cardiomediastinum": 0},
     "openi-normal"),
    ("IMPRESSION:\n1. Interval increase in moderate right pleural effusion.\n"
     "2. Right lower lobe atelectasis; superimposed pneumonia cannot be excluded.",
     "impression", {"Pleural Effusion": 1, "Atelectasis": 1, "Pneumonia": -1},
     "change-and-cannot-exclude"),
    ("INDICATION: Cough and fever, evaluate for pneumonia.\n\nFINDINGS: The lungs are clear. "
     "No pleural effusion or pneumothorax.",
     "report", {"No Finding": 1, "Pleural Effusion": 0, "Pneumothorax": 0},
     "indication-is-not-a-finding"),
    ("IMPRESSION: Acute displaced fracture of the left seventh rib. No pneumothorax.",
     "impression", {"Fracture": 1, "Pneumothorax": 0}, "rib-fracture"),
    ("FINDINGS: Right basilar opacity.\n\nIMPRESSION: No focal consolidation.",
     "report", {"Lung Opacity": 1, "Consolidation": 0}, "report-scope-per-column"),
    # MIMIC-CXR wraps lines at ~78 characters, often inside a phrase or a hedge.
    (" IMPRESSION: \n \n Moderate right pleural effusion.  The heart is mildly\n enlarged."
     "  Left basilar opacity may\n represent atelectasis.",
     "impression", {"Pleural Effusion": 1, "Cardiomegaly": 1, "Lung Opacity": 1,
                    "Atelectasis": -1}, "hard-line-wraps"),
]


def test_wrapped_mention_spans_point_into_the_original_report():
    text = "FINDINGS: The heart is mildly\n   enlarged. Small left pleural\n effusion."
    findings = ReportLabeler(scope="report").label(text).findings
    mentions = {f.name: text[f.evidence.start:f.evidence.end] for f in findings}
    assert mentions["cardiomegaly"] == "heart is mildly\n   enlarged"
    assert mentions["pleural effusion"] == "pleural\n effusion"
    effusion = next(f for f in findings if f.name == "pleural effusion")
    assert effusion.location.side == "left"
    assert effusion.evidence.sentence == "Small left pleural effusion."


@pytest.mark.parametrize(("text", "scope", "expected"),
                         [c[:3] for c in REPORT_CASES], ids=[c[3] for c in REPORT_CASES])
def test_report_labels(text, scope, expected):
    from chestx_reasoner.reports.vocabulary import CHEXPERT_OBSERVATIONS

    report = ReportLabeler(scope=scope).label(text)
    want = {column: expected.get(column) for column in CHEXPERT_OBSERVATIONS}
    if "No Finding" not in expected:
        want["No Finding"] = None
    wrong = {c: (report.labels[c], want[c]) for c in CHEXPERT_OBSERVATIONS
             if report.labels[c] != want[c]}
    assert not wrong, (
        f"columns (got, expected): {wrong}\nlabeler returned:\n{_describe(report.findings)}")


@pytest.mark.parametrize("text", [
    "Unchanged cardiac silhouette.", "The cardiac silhouette is unchanged.",
    "Stable appearance of the cardiac silhouette compared to the prior.",
    # The silhouette sign: an obscured border is the lung beside it, not the heart's size.
    "Opacity obscures the left heart border.",
    "The right heart border is partially obscured by a small region of opacity.",
    "Lingular opacity silhouettes the left cardiac border.",
])
def test_an_unchanged_cardiac_silhouette_says_nothing_of_the_hearts_size(text: str) -> None:
    labeled = ReportLabeler(scope="report").label(text)
    assert labeled.labels["Cardiomegaly"] is None
    assert not [f for f in labeled.findings if f.observation == "Cardiomegaly"]


@pytest.mark.parametrize("text", [
    "Left lower lobe atelectasis has improved, with the mediastinum returning to the midline.",
    "The mediastinum is shifted slightly to the right.",
    "Mediastinal contour is notable for a tortuous aorta.",
    "Surgical clips project over the mediastinum.",
])
def test_the_mediastinum_named_without_its_width_is_not_enlarged(text: str) -> None:
    labeled = ReportLabeler(scope="report").label(text)
    assert labeled.labels["Enlarged Cardiomediastinum"] is None


@pytest.mark.parametrize(("text", "label"), [
    ("The mediastinum is widened.", 1.0),
    ("Mediastinal contours are prominent.", 1.0),
    ("Stable cardiac and mediastinal contours.", -1.0),  # CheXpert: stable may be stably wide
    ("Mediastinal and hilar contours are unremarkable.", 0.0),
])
def test_the_mediastinums_width_still_reads_as_stated(text: str, label: float) -> None:
    assert ReportLabeler(scope="report").label(text).labels["Enlarged Cardiomediastinum"] == label


@pytest.mark.parametrize("text", ["Kerley B-lines at both bases.",
                                  "No pleural line is visible.",
                                  "There is no air in the pleural space."])
def test_lines_of_the_lung_are_not_a_catheter(text: str) -> None:
    labeled = ReportLabeler(scope="report").label(text)
    assert labeled.labels["Support Devices"] is None
    assert all(f.observation != "Pleural Effusion" for f in labeled.findings), text


def test_kerley_lines_are_not_a_catheter() -> None:
    labeled = ReportLabeler(scope="report").label("Kerley B-lines at both bases.")
    assert labeled.labels["Support Devices"] is None and labeled.labels["Edema"] == 1


def test_flattened_mimic_reports_without_headers_are_read_whole() -> None:
    # Real dumps lost FINDINGS/IMPRESSION: findings and impression run together.
    text = ("PA and lateral views of the chest. Heart size is normal. There is a small right "
            "pleural effusion. No pneumothorax. Small right pleural effusion, unchanged.")
    labels = ReportLabeler(scope="report").label(text).labels
    assert (labels["Pleural Effusion"], labels["Pneumothorax"], labels["Cardiomegaly"]) \
        == (1, 0, 0)


def test_mass_effect_is_not_a_lung_mass() -> None:
    labeled = ReportLabeler(scope="report").label(
        "Possible mass effect on the trachea from a goiter. Lungs are clear.")
    assert labeled.labels["Lung Lesion"] is None
    assert not [f for f in labeled.findings if f.observation == "Lung Lesion"]


@pytest.mark.parametrize("text", [
    "Corticated bony density over the lateral aspect of the clavicle, likely old injury.",
    "Sclerotic density in a midthoracic vertebral body, likely a bone island.",
    "Osseous density projecting over the right seventh rib.",
])
def test_a_density_of_the_bone_is_not_a_lung_opacity(text: str) -> None:
    labeled = ReportLabeler(scope="report").label(text)
    assert labeled.labels["Lung Opacity"] is None, text
    assert {f.name for f in labeled.findings} == {"osseous lesion"}, text


def test_a_density_of_the_lung_still_is() -> None:
    labeled = ReportLabeler(scope="report").label("Increased density at the right lung base.")
    assert labeled.labels["Lung Opacity"] == 1


@pytest.mark.parametrize(("text", "finding", "status"), [
    ("No pleural effusion or edema, suggesting emphysema from hyperinflation.", "emphysema",
     "present"),
    ("No focal consolidation, suggesting atelectasis rather than pneumonia.", "atelectasis",
     "present"),
    ("Absence of effusion or pneumothorax, supporting cardiomegaly as the cause.",
     "cardiomegaly", "present"),
    # The clause's own negation still reads.
    ("No pleural line is seen, suggesting no pneumothorax.", "pneumothorax", "absent"),
])
def test_a_concluding_clause_is_not_denied_by_the_negation_before_it(text: str, finding: str,
                                                                      status: str) -> None:
    labeled = ReportLabeler(scope="report").label(text)
    assert {f.status for f in labeled.findings if f.name == finding} == {status}, text


@pytest.mark.parametrize(("text", "opacity"), [
    ("The lung markings are visible all the way to the chest wall.", None),
    ("Normal lung markings.", None),
    ("Increased interstitial lung markings bilaterally.", 1.0),
    ("Prominent lung markings at the bases.", 1.0),
    ("Coarse lung markings, likely chronic.", 1.0),
])
def test_plain_lung_markings_are_the_normal_lung(text: str, opacity: float | None) -> None:
    assert ReportLabeler(scope="report").label(text).labels["Lung Opacity"] == opacity, text


@pytest.mark.parametrize(("text", "lesion"), [
    ("The mediastinum is the central compartment of the thoracic cavity.", None),
    ("The heart occupies a third of the chest cavity.", None),
    ("A cavity is seen within the right upper lobe mass.", 1.0),
])
def test_the_thoracic_cavity_is_no_cavitary_lesion(text: str, lesion: float | None) -> None:
    assert ReportLabeler(scope="report").label(text).labels["Lung Lesion"] == lesion, text


@pytest.mark.parametrize(("text", "opacity", "atelectasis"), [
    ("Low lung volumes with bronchovascular crowding.", None, None),
    ("Both lungs show mildly low lung volumes with crowding of bronchovascular markings.",
     None, None),
    ("Vascular crowding at the bases due to low lung volumes.", None, None),
    ("Low lung volumes with crowding of the vascular markings and bibasilar atelectasis.",
     None, 1.0),
    ("Low lung volumes with bronchovascular crowding and a right lower lobe opacity.", 1.0,
     None),
])
def test_crowded_vessels_of_a_shallow_inspiration_are_not_an_opacity(
        text: str, opacity: float | None, atelectasis: float | None) -> None:
    labels = ReportLabeler(scope="report").label(text).labels
    assert (labels["Lung Opacity"], labels["Atelectasis"]) == (opacity, atelectasis), text



@pytest.mark.parametrize(("text", "devices"), [
    ("Kerley B lines are seen at the lung bases.", None),
    ("Septal lines are present at both bases.", None),
    ("There are no irregular opacities or lines indicative of scarring.", None),
    ("A visceral pleural line with no lung markings beyond this line.", None),
    ("Right PIC line ends in the upper SVC.", 1.0),
    ("Right internal jugular line terminates at the cavoatrial junction.", 1.0),
    ("The line tip projects over the cavoatrial junction.", 1.0),
    ("Lines and tubes are unchanged in position.", 1.0),
    ("No lines or tubes are seen.", 0.0),
])
def test_a_bare_line_is_no_catheter(text: str, devices: float | None) -> None:
    labels = ReportLabeler(scope="report").label(text).labels
    assert labels["Support Devices"] == devices, text
