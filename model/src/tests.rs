//! Unit tests of the model: real and broken files, ID:UID parsing, hashes and evolution rules.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::*;

const DOCKER: &str =
    "objectbox__objectbox-sync-examples__tasks__server-docker__objectbox-model.json";

fn fixture_dir(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models")
        .join(dir)
}

/// The `.json` file names in a fixture directory, sorted.
fn json_files(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir(dir))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    names
}

fn read(dir: &str, name: &str) -> Vec<u8> {
    std::fs::read(fixture_dir(dir).join(name)).unwrap()
}

fn public(name: &str) -> Loaded {
    Model::from_json(&read("public", name)).unwrap()
}

/// The sync-examples server model as a JSON value, to derive variants from.
fn docker_json() -> Value {
    serde_json::from_slice(&read("public", DOCKER)).unwrap()
}

fn load(value: &Value) -> Result<Loaded, ModelError> {
    Model::from_json(&serde_json::to_vec_pretty(value).unwrap())
}

fn model(value: &Value) -> Model {
    load(value).unwrap().model
}

fn docker() -> Model {
    model(&docker_json())
}

/// Property `j` of the first entity of a model JSON value.
fn prop(value: &mut Value, j: usize) -> &mut Value {
    &mut value["entities"][0]["properties"][j]
}

// Real files.

#[test]
fn public_models_load_except_three_legacy_ones() {
    const REJECTED: &[(&str, &str)] = &[
        (
            "objectbox__objectbox-examples__daocompat-example__objectbox-models__default.json",
            "pre-1.0 ObjectBox model format (found \"metaVersion\"",
        ),
        (
            "objectbox__objectbox-examples__objectbox-example__objectbox-models__default.json",
            "modelVersion 2 is too old; regenerate the model with a current ObjectBox generator",
        ),
        (
            "objectbox__objectbox-examples__objectbox-relation-example__objectbox-models__default.json",
            "modelVersion 3 is too old; regenerate the model with a current ObjectBox generator",
        ),
    ];
    let files = json_files("public");
    assert_eq!(files.len(), 37);
    let mut rejected = 0;
    for name in &files {
        let bytes = read("public", name);
        let result = Model::from_json(&bytes);
        if let Some((_, expected)) = REJECTED.iter().find(|(file, _)| file == name) {
            let err = result.expect_err(name);
            assert_eq!(err.kind, ModelErrorKind::Version, "{name}");
            assert!(err.to_string().contains(expected), "{name}: {err}");
            rejected += 1;
            continue;
        }
        let loaded = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        let raw: Value = serde_json::from_slice(&bytes).unwrap();
        let counts = loaded.model.counts();
        assert_eq!(
            counts.entities,
            raw["entities"].as_array().unwrap().len(),
            "{name}"
        );
        let (base, full) = (loaded.model.base_hash(), loaded.model.full_hash());
        assert_ne!(base, SchemaHash([0; 16]), "{name}");
        assert_ne!(full, SchemaHash([0; 16]), "{name}");
        assert_ne!(base, full, "{name}");
        for entity in &loaded.model.entities {
            assert!(entity.id_property().is_id(), "{name}: {}", entity.name);
        }
    }
    assert_eq!(rejected, REJECTED.len());
}

#[test]
fn public_models_expected_warnings() {
    let check = |name: &str, expected: &[&str]| {
        let warnings = public(name).warnings;
        assert_eq!(warnings.len(), expected.len(), "{name}: {warnings:#?}");
        for (warning, expected) in warnings.iter().zip(expected) {
            assert!(
                warning.contains(expected),
                "{name}: {warning:?} lacks {expected:?}"
            );
        }
    };
    check(
        DOCKER,
        &["entities[0].properties: entity Task has no property with ID 3"],
    );
    check(
        "objectbox__objectbox-sync-examples__tasks__client-cpp__objectbox-model.json",
        &[],
    );
    check(
        "chongyihu__objectbox-rust__fb_binding__src__objectbox-model.json",
        &["lastIndexId: \"1:7398129845820662226\" doesn't match any index with ID 1"],
    );
    check(
        "objectbox__objectbox-examples__desktop-test-example__objectbox-models__default.json",
        &[
            "entities[0].properties[0]: property Note.id has no type",
            "entities[0].properties[1]: property Note.text has no type",
            "entities[0].properties[2]: property Note.comment has no type",
            "entities[0].properties[3]: property Note.date has no type",
            "entities[0].properties[4]: property Note.parentId has no type",
            "no property of entity Note has flag ID (1); using property id as the ID",
            "entities[0].properties[4].indexId: property Note.parentId has index \"1:6332748190788896219\" but no index flag",
        ],
    );
    let edgex =
        public("heholek__edgex-objectbox__internal__pkg__db__objectbox__obx__objectbox-model.json");
    assert!(edgex.warnings[0].starts_with("version: 0 is not 1"));
    assert!(
        edgex
            .warnings
            .iter()
            .any(|w| w.contains("ID property Event.ID has flag UNSIGNED"))
    );
}

#[test]
fn public_model_details() {
    let docker = docker();
    let task = docker.entity(1).unwrap();
    assert!(task.is_sync_enabled());
    assert!(!task.has_shared_global_ids());
    assert_eq!(task.flag_names(), ["SYNC_ENABLED"]);
    assert_eq!(task.id_property().name, "id");
    assert_eq!(task.property(6).unwrap().name, "syncClock");
    assert!(task.property(3).is_none());
    assert_eq!(
        task.property_by_name("DATECREATED").unwrap().ty,
        Some(PropertyType::Date)
    );
    assert_eq!(
        task.property_by_uid(8_804_670_454_579_230_281)
            .unwrap()
            .name,
        "text"
    );
    assert_eq!(
        task.sync_clock_property().unwrap().flag_names(),
        ["SYNC_CLOCK"]
    );
    assert!(task.sync_precedence_property().is_none());
    assert_eq!(
        docker.entity_by_name("task").unwrap().id,
        IdUid::new(1, 6_645_479_796_472_661_392)
    );
    assert_eq!(
        docker
            .entity_by_uid(6_645_479_796_472_661_392)
            .unwrap()
            .name,
        "Task"
    );
    assert_eq!(docker.sync_entities().count(), 1);
    assert_eq!(docker.last_index_id, None);
    assert_eq!(
        docker.counts(),
        ModelCounts {
            entities: 1,
            properties: 5,
            relations: 0,
            indexes: 0
        }
    );

    // The C++ client writes "" instead of "0:0" and snake_case names, with the same UIDs.
    let cpp =
        public("objectbox__objectbox-sync-examples__tasks__client-cpp__objectbox-model.json").model;
    assert_eq!(cpp.last_index_id, None);
    assert_eq!(cpp.entities[0].property(4).unwrap().name, "date_created");
    assert_ne!(cpp.base_hash(), docker.base_hash());

    let swift61 =
        public("objectbox__objectbox-swift__Source__ios-framework__CodeGenTests__expected__model__model61.json").model;
    assert_eq!(
        swift61.entities[0].sync_precedence_property().unwrap().name,
        "syncPrecedenceProp"
    );
    let swift3 =
        public("objectbox__objectbox-swift__Source__ios-framework__CodeGenTests__expected__model__model3.json").model;
    assert!(swift3.entities[0].has_shared_global_ids());
    assert_eq!(
        swift3.entities[0].flag_names(),
        ["SYNC_ENABLED", "SHARED_GLOBAL_IDS"]
    );

    let relations = public(
        "objectbox__objectbox-examples__android-app-relations__objectbox-models__default.json",
    )
    .model;
    assert_eq!(
        relations.counts(),
        ModelCounts {
            entities: 4,
            properties: 7,
            relations: 1,
            indexes: 1
        }
    );
    let dart =
        public("objectbox__objectbox-dart__objectbox_test__test__objectbox-model.json").model;
    assert_eq!(
        dart.counts(),
        ModelCounts {
            entities: 22,
            properties: 141,
            relations: 2,
            indexes: 25
        }
    );

    // UIDs at or above 2^63 survive parsing exactly.
    let rust = public("chongyihu__objectbox-rust__fb_binding__src__objectbox-model.json").model;
    let uids: Vec<u64> = rust.entities[0]
        .properties
        .iter()
        .map(|p| p.id.uid)
        .collect();
    assert!(uids.contains(&17_998_607_689_778_292_859), "{uids:?}");

    let cities =
        public("objectbox__objectbox-c__examples__vectorsearch-cities__objectbox-model.json").model;
    let hnsw = cities.entities[0]
        .properties
        .iter()
        .find_map(|p| p.hnsw)
        .unwrap();
    assert_eq!(hnsw.dimensions, Some(2));
    assert_eq!(hnsw.distance_type, Some(DistanceType::Geo));

    let iot = public("objectbox__objectbox-go__test__model__iot__objectbox-model.json").model;
    assert!(iot.retired_relation_uids.is_empty());
    let swift19 =
        public("objectbox__objectbox-swift__Source__ios-framework__CodeGenTests__expected__model__model19.json").model;
    assert!(!swift19.new_uid_pool.is_empty());
    let empty =
        public("objectbox__objectbox-swift__Source__ios-framework__CodeGenTests__expected__model__model24.json").model;
    assert_eq!(empty.counts(), ModelCounts::default());
}

// Broken files: one fixture per rule, with the path and the offending value in the message.

const INVALID: &[(&str, &str)] = &[
    (
        "truncated.json",
        "model file is not valid JSON at line 20 column 25: EOF while parsing a value",
    ),
    (
        "merge-conflict.json",
        "model file is not valid JSON at line 30 column 1",
    ),
    (
        "merge-conflict.json",
        "unresolved merge conflict (\"<<<<<<<\" at line 30)",
    ),
    (
        "duplicate-key.json",
        "model file is not valid JSON at line 21 column 16: duplicate key \"name\"",
    ),
    (
        "not-an-object.json",
        "the model file must hold a JSON object, found an array",
    ),
    (
        "missing-entities.json",
        "entities: missing (an array is required)",
    ),
    (
        "retired-not-array.json",
        "retiredPropertyUids: 123 is not an array (found a number)",
    ),
    (
        "retired-negative-uid.json",
        "retiredEntityUids[0]: -5 is not a UID",
    ),
    (
        "type-not-integer.json",
        "entities[0].properties[1].type: \"9\" is not a non-negative integer (found a string)",
    ),
    (
        "id-as-number.json",
        "entities[0].id: 1 is not an \"ID:UID\" string (found a number)",
    ),
    (
        "flags-too-large.json",
        "entities[0].properties[1].flags: 4294967296 is out of range",
    ),
    (
        "malformed-id-no-colon.json",
        "entities[0].properties[1].id: \"2-8804670454579230281\" is not ID:UID (missing ':')",
    ),
    (
        "malformed-id-two-colons.json",
        "entities[0].properties[1].id: \"2:8804670454579230281:5\" is not ID:UID (more than one ':')",
    ),
    (
        "malformed-id-letters.json",
        "entities[0].properties[1].id: \"2:88046704545792302x1\" is not ID:UID (UID must be decimal digits only)",
    ),
    (
        "malformed-id-sign.json",
        "entities[0].properties[1].id: \"+2:8804670454579230281\" is not ID:UID (ID must be decimal digits only)",
    ),
    (
        "malformed-id-space.json",
        "entities[0].properties[1].id: \"2: 8804670454579230281\" is not ID:UID (UID must be decimal digits only)",
    ),
    (
        "malformed-id-zero-id.json",
        "entities[0].properties[1].id: \"0:8804670454579230281\" is not ID:UID (ID must be greater than 0)",
    ),
    (
        "malformed-id-id-too-large.json",
        "entities[0].properties[1].id: \"4294967296:8804670454579230281\" is not ID:UID (ID exceeds 4294967295)",
    ),
    (
        "malformed-id-uid-zero.json",
        "entities[0].properties[1].id: \"2:0\" is not ID:UID (UID must be greater than 0)",
    ),
    (
        "malformed-id-uid-too-large.json",
        "entities[0].properties[1].id: \"2:18446744073709551616\" is not ID:UID (UID exceeds 18446744073709551615)",
    ),
    (
        "index-id-zero.json",
        "entities[0].properties[1].indexId: \"0:0\" is not ID:UID (ID must be greater than 0)",
    ),
    (
        "duplicate-entity-id.json",
        "entities[1].id: \"1:4411000000000000001\" duplicates ID 1 of entity Task (entities[0].id \"1:6645479796472661392\")",
    ),
    (
        "duplicate-property-id.json",
        "entities[0].properties[2].id: \"2:1260602348787983453\" duplicates ID 2 of property Task.text",
    ),
    (
        "duplicate-index-id.json",
        "entities[0].properties[2].indexId: \"1:4411000000000000012\" duplicates index ID 1 of property Task.text",
    ),
    (
        "duplicate-property-uid.json",
        "entities[0].properties[3].id: \"5:1260602348787983453\" reuses UID 1260602348787983453 of property \
         Task.dateCreated (entities[0].properties[2].id)",
    ),
    (
        "uid-collision-entity-vs-property.json",
        "entities[0].properties[1].id: \"2:6645479796472661392\" reuses UID 6645479796472661392 of entity Task \
         (entities[0].id)",
    ),
    (
        "uid-reuses-retired.json",
        "entities[0].properties[1].id: \"2:8804670454579230281\" reuses UID 8804670454579230281, which is retired \
         (retiredPropertyUids[0])",
    ),
    (
        "duplicate-entity-name.json",
        "entities[1].name: \"task\" duplicates the name of entity Task (entities[0])",
    ),
    (
        "duplicate-property-name-case.json",
        "entities[0].properties[3].name: \"TEXT\" duplicates the name of property Task.text (properties[1])",
    ),
    (
        "last-entity-id-too-low.json",
        "lastEntityId: \"1:6645479796472661392\": ID 1 is lower than ID 2 of entity Note",
    ),
    (
        "last-property-id-too-low.json",
        "entities[0].lastPropertyId: \"5:6240065879507520219\": ID 5 is lower than ID 6 of property Task.syncClock",
    ),
    (
        "last-index-id-uid-mismatch.json",
        "lastIndexId: \"1:4411000000000000099\" has the ID of the index of Task.text but not its UID \
         (\"1:5206397068544851461\")",
    ),
    (
        "last-index-id-unset.json",
        "lastIndexId: is unset (absent, \"\" or \"0:0\") but the index of Task.text has ID:UID \"1:5206397068544851461\"",
    ),
    (
        "unknown-type-code.json",
        "entities[0].properties[1].type: 14 is a reserved property type code",
    ),
    (
        "type-zero.json",
        "entities[0].properties[1].type: 0 (Unknown) is not a usable property type",
    ),
    (
        "no-id-property.json",
        "entities[0].properties: entity Task has no ID property: no property has flag ID (1) and none is named \"id\"",
    ),
    (
        "two-id-properties.json",
        "entities[0].properties[3].flags: property Task.dateFinished is a second ID property (after id)",
    ),
    (
        "id-property-not-long.json",
        "entities[0].properties[0].type: 9 (String) is not Long (6), but Task.id is the ID property",
    ),
    (
        "relation-target-missing.json",
        "entities[0].properties[5]: to-one relation property Task.ownerId (type 11) has no relationTarget",
    ),
    (
        "relation-target-unknown.json",
        "entities[0].properties[5].relationTarget: \"User\" names no entity in the model",
    ),
    (
        "empty-property-name.json",
        "entities[0].properties[1].name: \"\" is empty; every property needs a name",
    ),
    (
        "empty-entity-name.json",
        "entities[0].name: \"\" is empty; every entity needs a name",
    ),
    (
        "future-model-version.json",
        "modelVersionParserMinimum 99 is newer than this server's model parser",
    ),
    (
        "future-model-version-no-minimum.json",
        "modelVersion 6 is newer than this server supports (5)",
    ),
    (
        "model-version-too-old.json",
        "modelVersion 3 is too old; regenerate the model",
    ),
    (
        "model-version-missing.json",
        "modelVersion is missing (and there is no modelVersionParserMinimum)",
    ),
    (
        "pre-1-0-ref-id.json",
        "pre-1.0 ObjectBox model format (found \"entities[0].refId\"",
    ),
    (
        "two-sync-clocks.json",
        "entities[0].properties[5].flags: property Task.syncClock2 is a second SYNC_CLOCK property (after syncClock)",
    ),
    (
        "two-sync-precedences.json",
        "entities[0].properties[6].flags: property Task.precedence2 is a second SYNC_PRECEDENCE property \
         (after precedence)",
    ),
    (
        "sync-clock-not-long.json",
        "entities[0].properties[4].flags: property Task.syncClock has flag SYNC_CLOCK but type Date",
    ),
    (
        "sync-clock-on-local-entity.json",
        "entities[0].properties[4].flags: property Task.syncClock has flag SYNC_CLOCK, but entity Task is not \
         sync-enabled",
    ),
    (
        "unique-without-replace-on-sync-entity.json",
        "entities[0].properties[1].flags: 2088: property Task.text of sync-enabled entity Task is UNIQUE without \
         UNIQUE_ON_CONFLICT_REPLACE",
    ),
    (
        "two-unique-replace.json",
        "entities[0].properties[2].flags: property Task.dateCreated is a second UNIQUE_ON_CONFLICT_REPLACE property \
         (after text)",
    ),
    (
        "hnsw-on-non-vector.json",
        "entities[0].properties[1].hnswParams: property Task.text has type String, but an HNSW index needs a \
         FloatVector",
    ),
    (
        "hnsw-zero-dimensions.json",
        "entities[0].properties[5].hnswParams.dimensions: 0 is less than 1",
    ),
    (
        "hnsw-unknown-distance.json",
        "entities[0].properties[5].hnswParams.distance-type: \"Manhattan\" is not a known distance type",
    ),
    (
        "standalone-relation-bad-target.json",
        "entities[0].relations[0].targetId: \"2:4411000000000000999\" has the ID of entity Tag but not its UID \
         (\"2:4411000000000000061\")",
    ),
    (
        "standalone-relation-unknown-target.json",
        "entities[0].relations[0].targetId: \"3:4411000000000000061\" matches no entity (relation Task.tags)",
    ),
    (
        "standalone-relation-no-target.json",
        "entities[0].relations[0]: standalone relation tags has no targetId",
    ),
];

#[test]
fn invalid_models_are_rejected_with_path_and_value() {
    fn check(file: &str, expected: &str) {
        let err = Model::from_json(&read("invalid", file)).expect_err(file);
        let text = err.to_string();
        assert!(
            text.contains(expected),
            "{file}:\n  got      {text}\n  expected {expected}"
        );
    }
    for (file, expected) in INVALID {
        check(file, expected);
    }
    // Every fixture in the directory has a case, and every case a fixture.
    let mut covered: Vec<String> = INVALID.iter().map(|(file, _)| (*file).to_owned()).collect();
    covered.dedup();
    assert_eq!(
        covered.len(),
        INVALID.len() - 1,
        "only merge-conflict.json has two cases"
    );
    covered.sort();
    assert_eq!(json_files("invalid"), covered);
}

#[test]
fn error_kinds_and_display() {
    let kind = |file: &str| Model::from_json(&read("invalid", file)).unwrap_err().kind;
    assert_eq!(kind("truncated.json"), ModelErrorKind::Syntax);
    assert_eq!(kind("malformed-id-sign.json"), ModelErrorKind::Shape);
    assert_eq!(kind("future-model-version.json"), ModelErrorKind::Version);
    assert_eq!(kind("duplicate-entity-id.json"), ModelErrorKind::Invalid);

    let err = Model::from_json(b"[]").unwrap_err();
    assert_eq!(err.path, "");
    assert_eq!(err.to_string(), err.message);
    let err = Model::from_json(&read("invalid", "missing-entities.json")).unwrap_err();
    assert_eq!(err.to_string(), format!("{}: {}", err.path, err.message));
}

// Parsing details.

#[test]
fn id_uid_parsing() {
    fn ok(text: &str, id: u32, uid: u64) {
        let parsed: IdUid = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(parsed, IdUid::new(id, uid));
        assert_eq!(parsed.to_string(), text);
    }
    fn bad(text: &str, reason: &str) {
        let err = text.parse::<IdUid>().expect_err(text);
        assert_eq!(
            err.to_string(),
            format!("\"{text}\" is not ID:UID ({reason})")
        );
    }
    ok("1:1", 1, 1);
    ok("7:735371271241964585", 7, 735_371_271_241_964_585);
    ok("3:1003", 3, 1003);
    ok("4294967295:18446744073709551615", u32::MAX, u64::MAX);
    ok("1:17998607689778292859", 1, 17_998_607_689_778_292_859);
    bad("", "missing ':'");
    bad("12", "missing ':'");
    bad("1:2:3", "more than one ':'");
    bad(":5", "empty ID");
    bad("5:", "empty UID");
    bad("-1:5", "ID must be decimal digits only");
    bad("1:+5", "UID must be decimal digits only");
    bad(" 1:5", "ID must be decimal digits only");
    bad("1:5 ", "UID must be decimal digits only");
    bad("1:0x1F", "UID must be decimal digits only");
    bad("1:1e3", "UID must be decimal digits only");
    bad("1:５", "UID must be decimal digits only");
    bad("01:5", "ID has a leading zero");
    bad("1:05", "UID has a leading zero");
    bad("0:5", "ID must be greater than 0");
    bad("1:0", "UID must be greater than 0");
    bad("0:0", "ID must be greater than 0");
    bad("4294967296:5", "ID exceeds 4294967295");
    bad("1:18446744073709551616", "UID exceeds 18446744073709551615");
    bad(
        "1:99999999999999999999999",
        "UID exceeds 18446744073709551615",
    );

    assert_eq!(IdUid::parse_optional(""), Ok(None));
    assert_eq!(IdUid::parse_optional("0:0"), Ok(None));
    assert_eq!(IdUid::parse_optional("2:9"), Ok(Some(IdUid::new(2, 9))));
    assert!(IdUid::parse_optional("0:9").is_err());
}

#[test]
fn property_type_codes() {
    for code in (1..=13).chain(22..=32) {
        let ty = PropertyType::from_code(code).unwrap();
        assert_eq!(ty.code(), code);
        assert_eq!(ty.is_vector(), code >= 22, "{ty}");
    }
    for code in [0, 14, 17, 21, 33, 100, u32::MAX] {
        assert_eq!(PropertyType::from_code(code), None, "{code}");
    }
    assert_eq!(PropertyType::ALL.len(), 24);
    assert_eq!(PropertyType::Long.name(), "Long");
    assert_eq!(PropertyType::Relation.name(), "Relation");
    assert_eq!(PropertyType::FloatVector.to_string(), "FloatVector");
    assert_eq!(
        PropertyType::from_code(12).map(PropertyType::name),
        Some("DateNano")
    );
}

#[test]
fn flag_tables() {
    for table in [flags::PROPERTY_FLAG_NAMES, flags::ENTITY_FLAG_NAMES] {
        for pair in table.windows(2) {
            assert!(pair[0].0 < pair[1].0);
        }
        assert!(table.iter().all(|(bit, _)| bit.is_power_of_two()));
    }
    assert_eq!(
        flags::PROPERTY_FLAG_NAMES
            .iter()
            .map(|(bit, _)| bit)
            .sum::<u32>(),
        flags::KNOWN_PROPERTY_FLAGS
    );
    assert_eq!(
        flags::names(520, flags::PROPERTY_FLAG_NAMES),
        ["INDEXED", "INDEX_PARTIAL_SKIP_ZERO"]
    );
    assert_eq!(
        flags::names(8193 | (1 << 20), flags::PROPERTY_FLAG_NAMES),
        ["ID", "UNSIGNED"]
    );
    assert_eq!(
        flags::names(6, flags::ENTITY_FLAG_NAMES),
        ["SYNC_ENABLED", "SHARED_GLOBAL_IDS"]
    );
}

#[test]
fn version_policy() {
    let check = |version: Option<u32>, minimum: Option<u32>, accepted: bool| {
        let mut value = docker_json();
        let top = value.as_object_mut().unwrap();
        top.remove("modelVersion");
        top.remove("modelVersionParserMinimum");
        if let Some(v) = version {
            top.insert("modelVersion".into(), json!(v));
        }
        if let Some(m) = minimum {
            top.insert("modelVersionParserMinimum".into(), json!(m));
        }
        let result = load(&value);
        assert_eq!(
            result.is_ok(),
            accepted,
            "{version:?}/{minimum:?}: {result:?}"
        );
        if let Err(err) = result {
            assert_eq!(err.kind, ModelErrorKind::Version);
        }
    };
    check(Some(5), Some(5), true);
    check(Some(5), Some(4), true);
    check(Some(4), Some(4), true);
    check(Some(5), None, true);
    check(Some(4), None, true);
    check(None, Some(5), true);
    check(Some(6), Some(5), true);
    check(Some(9_999_999), Some(3), true);
    check(Some(6), None, false);
    check(Some(6), Some(0), false);
    check(Some(5), Some(6), false);
    check(None, None, false);
    check(None, Some(6), false);
    check(Some(3), None, false);
    check(Some(3), Some(3), false);
    check(Some(0), None, false);
}

#[test]
fn warnings_for_tolerated_oddities() {
    let mut value = docker_json();
    value["futureKey"] = json!(true);
    value["_note9"] = json!("comments are ignored silently");
    value["version"] = json!(2);
    value["retiredRelationUids"] = Value::Null;
    value["lastIndexId"] = json!("");
    value["entities"][0]["flags"] = json!(2 | 64);
    *prop(&mut value, 1) =
        json!({"id": "2:8804670454579230281", "name": "text", "type": 9, "flags": 8, "fancy": 1});
    prop(&mut value, 2)["flags"] = json!(1 << 22);
    let loaded = load(&value).unwrap();
    let expected = [
        "futureKey: unknown key, ignored",
        "version: 2 is not 1",
        "entities[0].flags: entity Task has unknown flag bits 0x40",
        "entities[0].properties[1].fancy: unknown key, ignored",
        "entities[0].properties[2].flags: property Task.dateCreated has unknown flag bits 0x400000",
        "entities[0].properties[1]: property Task.text has index flags (8) but no indexId",
        "entities[0].properties: entity Task has no property with ID 3",
    ];
    assert_eq!(
        loaded.warnings.len(),
        expected.len(),
        "{:#?}",
        loaded.warnings
    );
    for (warning, expected) in loaded.warnings.iter().zip(expected) {
        assert!(
            warning.starts_with(expected),
            "{warning:?} does not start with {expected:?}"
        );
    }
    // Unknown flag bits are kept.
    assert_eq!(loaded.model.entities[0].flags, 66);
    assert_eq!(loaded.model.entities[0].property(4).unwrap().flags, 1 << 22);
}

#[test]
fn json_syntax_errors() {
    let docker = read("public", DOCKER);
    let text = String::from_utf8(docker.clone()).unwrap();
    let check = |bytes: &[u8], expected: &str| {
        let err = Model::from_json(bytes).unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    };
    check(
        b"",
        "model file is not valid JSON at line 1 column 0: EOF while parsing a value",
    );
    check(
        text.replace("\"text\",", "\"text\",,").as_bytes(),
        "not valid JSON at line 20 column 26: key must be a string",
    );
    check(
        text.replace("\"type\": 9", "\"type\": 9,").as_bytes(),
        "trailing comma",
    );
    check(
        format!("{text}\n// comment").as_bytes(),
        "trailing characters",
    );
    check(
        text.replace("\"type\": 9", "\"type\": NaN").as_bytes(),
        "expected value",
    );
    check(&docker[..docker.len() - 1], "EOF while parsing an object");
    check(
        b"{\"a\": 1, \"a\": 2}",
        "model file is not valid JSON at line 1 column 12: duplicate key \"a\"",
    );

    // A UTF-8 byte order mark is skipped with a warning.
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend_from_slice(&docker);
    let loaded = Model::from_json(&with_bom).unwrap();
    assert!(loaded.warnings[0].contains("byte order mark"));
}

#[test]
fn implicit_id_property_gets_the_id_flag() {
    let mut value = docker_json();
    prop(&mut value, 0).as_object_mut().unwrap().remove("flags");
    prop(&mut value, 0)["name"] = json!("ID");
    let loaded = load(&value).unwrap();
    assert!(loaded.warnings[0].contains("using property ID as the ID, as the Go generator does"));
    let task = &loaded.model.entities[0];
    assert_eq!(task.id_property().name, "ID");
    assert_eq!(task.id_property().flag_names(), ["ID"]);
}

// Hashes.

#[test]
fn hashes_ignore_key_order_whitespace_and_element_order() {
    let original = docker();
    // serde_json without `preserve_order` writes keys sorted, unlike the Java-style original.
    let compact = serde_json::to_vec(&docker_json()).unwrap();
    let reordered = Model::from_json(&compact).unwrap().model;
    assert_eq!(reordered.base_hash(), original.base_hash());
    assert_eq!(reordered.full_hash(), original.full_hash());

    let mut value = docker_json();
    value["entities"][0]["properties"]
        .as_array_mut()
        .unwrap()
        .reverse();
    value["lastIndexId"] = json!("");
    value["retiredEntityUids"] = Value::Null;
    let shuffled = model(&value);
    assert_eq!(shuffled.base_hash(), original.base_hash());
    assert_eq!(shuffled.full_hash(), original.full_hash());
}

#[test]
fn hashes_are_pinned() {
    // Hashes are stored with schema versions and compared with clients': the encoding must not drift.
    // Both values were cross-checked with a separate implementation of the encoding in the
    // `SchemaHash` docs.
    let docker = docker();
    assert_eq!(
        docker.base_hash().to_string(),
        "95a851f319cdeb19095bbd33980f9bbd"
    );
    assert_eq!(
        docker.full_hash().to_string(),
        "7b9a0691e650bd69f926434a2492f207"
    );
}

#[test]
fn hash_sensitivity() {
    let original = docker();
    let variant = |change: &dyn Fn(&mut Value)| {
        let mut value = docker_json();
        change(&mut value);
        model(&value)
    };

    let renamed = variant(&|v| prop(v, 1)["name"] = json!("body"));
    assert_ne!(renamed.base_hash(), original.base_hash());
    assert_ne!(renamed.full_hash(), original.full_hash());

    let retyped = variant(&|v| prop(v, 1)["type"] = json!(13));
    assert_ne!(retyped.base_hash(), original.base_hash());

    let indexed = variant(&|v| {
        prop(v, 1)["flags"] = json!(8);
        prop(v, 1)["indexId"] = json!("1:5206397068544851461");
        v["lastIndexId"] = json!("1:5206397068544851461");
    });
    assert_eq!(indexed.base_hash(), original.base_hash());
    assert_ne!(indexed.full_hash(), original.full_hash());

    for change in [
        &(|v: &mut Value| v["entities"][0]["flags"] = json!(6)) as &dyn Fn(&mut Value),
        &|v| v["retiredPropertyUids"] = json!([42]),
        &|v| prop(v, 2)["externalName"] = json!("created"),
        &|v| prop(v, 3)["flags"] = json!(4),
        &|v| v["entities"][0]["lastPropertyId"] = json!("7:42"),
    ] {
        let changed = variant(change);
        assert_eq!(changed.base_hash(), original.base_hash());
        assert_ne!(changed.full_hash(), original.full_hash());
    }

    // Neither hash covers the file format version or the unused user version.
    let newer_format = variant(&|v| {
        v["modelVersion"] = json!(6);
        v["version"] = json!(7);
    });
    assert_eq!(newer_format.full_hash(), original.full_hash());
}

#[test]
fn schema_hash_text() {
    let hash = docker().full_hash();
    let text = hash.to_string();
    assert_eq!(text.len(), 32);
    assert!(
        text.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_eq!(text.parse::<SchemaHash>(), Ok(hash));
    assert_eq!(text.to_uppercase().parse::<SchemaHash>(), Ok(hash));

    let err = |text: &str| text.parse::<SchemaHash>().unwrap_err().to_string();
    assert_eq!(
        err(&format!("0x{text}")),
        format!("schema hash \"0x{text}\" must not start with 0x; expected 32 hex characters")
    );
    assert_eq!(
        err(&text[..31]),
        format!(
            "schema hash \"{}\" has 31 characters; expected 32 hex characters",
            &text[..31]
        )
    );
    assert_eq!(
        err(""),
        "schema hash \"\" has 0 characters; expected 32 hex characters"
    );
    assert!(err(&format!("{text}00")).contains("has 34 characters"));
    assert!(err(&format!("{}g", &text[..31])).contains("contains 'g', which is not a hex digit"));
    assert!(err(&format!("{} ", &text[..31])).contains("contains ' '"));
}

// Evolution.

fn evolve(change: impl Fn(&mut Value)) -> Result<Vec<String>, EvolutionError> {
    let mut value = docker_json();
    change(&mut value);
    docker().check_evolution(&model(&value))
}

#[test]
fn evolution_allows_renames_additions_and_retiring() {
    let current = docker();
    assert_eq!(current.check_evolution(&current), Ok(Vec::new()));
    assert!(current.diff_summary(&current).is_empty());

    let mut value = docker_json();
    prop(&mut value, 1)["name"] = json!("body");
    value["entities"][0]["name"] = json!("Todo");
    let props = value["entities"][0]["properties"].as_array_mut().unwrap();
    props.remove(3);
    props.push(json!({"id": "7:4411000000000000001", "name": "note", "type": 9}));
    value["entities"][0]["lastPropertyId"] = json!("7:4411000000000000001");
    value["retiredPropertyUids"] = json!([6_240_065_879_507_520_219_u64]);
    let next = model(&value);
    assert_eq!(current.check_evolution(&next), Ok(Vec::new()));
    assert_eq!(
        current.diff_summary(&next),
        [
            "renamed entity Task to Todo",
            "renamed property Task.text to body",
            "added property Todo.note (7:4411000000000000001)",
            "removed property Task.dateFinished (5:6240065879507520219)",
        ]
    );

    // Adding an index and turning a property into a relation-free flag change are fine too.
    let mut value = docker_json();
    prop(&mut value, 1)["flags"] = json!(8);
    prop(&mut value, 1)["indexId"] = json!("1:5206397068544851461");
    value["lastIndexId"] = json!("1:5206397068544851461");
    let next = model(&value);
    assert_eq!(current.check_evolution(&next), Ok(Vec::new()));
    assert_eq!(
        current.diff_summary(&next),
        [
            "changed flags of property Task.text: 0 -> 8 (INDEXED)",
            "added the index of Task.text (1:5206397068544851461)"
        ]
    );
}

#[test]
fn evolution_warns_about_elements_dropped_without_retiring() {
    let warnings = evolve(|v| {
        v["entities"][0]["properties"]
            .as_array_mut()
            .unwrap()
            .remove(3);
    })
    .unwrap();
    assert_eq!(
        warnings,
        [
            "property Task.dateFinished (UID 6240065879507520219) was removed without being retired; add its UID to \
          retiredPropertyUids so it is never reused"
        ]
    );
}

#[test]
fn evolution_rejects_breaking_changes() {
    let check = |change: &dyn Fn(&mut Value), expected: &str| {
        let mut value = docker_json();
        change(&mut value);
        let err = docker().check_evolution(&model(&value)).unwrap_err();
        assert_eq!(err.to_string(), expected);
    };
    check(
        &|v| {
            prop(v, 1)["id"] = json!("3:8804670454579230281");
        },
        "property Task.text (UID 8804670454579230281) changed its ID from 2 to 3; an existing element must keep its ID",
    );
    check(
        &|v| {
            v["entities"][0]["id"] = json!("2:6645479796472661392");
            v["lastEntityId"] = json!("2:6645479796472661392");
        },
        "entity Task (UID 6645479796472661392) changed its ID from 1 to 2; an existing element must keep its ID",
    );
    check(
        &|v| prop(v, 1)["type"] = json!(13),
        "property Task.text (UID 8804670454579230281) changed its type from String to Flex; data is not converted, \
         so give the property a new UID instead",
    );
    check(
        &|v| {
            v["entities"][0]["flags"] = json!(0);
            prop(v, 4)["flags"] = json!(0);
        },
        "entity Task (UID 6645479796472661392) changed SYNC_ENABLED from true to false; sync cannot be switched on \
         or off for an existing entity, give it a new UID instead",
    );
    check(
        &|v| v["entities"][0]["flags"] = json!(6),
        "entity Task (UID 6645479796472661392) changed SHARED_GLOBAL_IDS from false to true; it is fixed when the \
         entity is introduced",
    );

    // Retired UIDs stay retired: not dropped from the list, not live again.
    let mut value = docker_json();
    value["retiredPropertyUids"] = json!([42]);
    let current = model(&value);
    value["retiredPropertyUids"] = json!([]);
    assert_eq!(
        current
            .check_evolution(&model(&value))
            .unwrap_err()
            .to_string(),
        "property UID 42 is retired in the current model but missing from retiredPropertyUids in the new one; \
         retired UIDs must stay retired"
    );
    prop(&mut value, 3)["id"] = json!("5:42");
    assert_eq!(
        current.check_evolution(&model(&value)).unwrap_err(),
        EvolutionError::RetiredRevived {
            kind: ElementKind::Property,
            uid: 42,
            name: "property Task.dateFinished".into()
        }
    );

    // A UID may not change what it names, nor move a property to another entity.
    let mut two = docker();
    let mut note = two.entities[0].clone();
    note.id = IdUid::new(2, 77);
    note.name = "Note".into();
    note.properties = vec![note.properties.remove(0)];
    note.properties[0].id.uid = 78;
    two.entities.push(note);
    let mut kind_changed = two.clone();
    let mut note_as_property = kind_changed.entities[0].properties[1].clone();
    note_as_property.id = IdUid::new(7, 77);
    kind_changed.entities[0].properties.push(note_as_property);
    kind_changed.entities.pop();
    assert_eq!(
        two.check_evolution(&kind_changed).unwrap_err().to_string(),
        "UID 77 was entity Note and is now property Task.text; a UID cannot name another kind of element"
    );

    let mut moved = two.clone();
    let text = moved.entities[0].properties.remove(1);
    moved.entities[1].properties.push(text);
    assert_eq!(
        two.check_evolution(&moved).unwrap_err().to_string(),
        "property Note.text (UID 8804670454579230281) moved from entity Task to entity Note; a property cannot \
         change its entity"
    );
}
