// Types of the entities in examples/objectbox-model.json, written by `sync-server-client codegen`; do not edit, regenerate instead.

import { Model, LocalStore, type StorageAdapter } from 'sync-server-client';

/** Entity Task (ID 1, synced). */
export interface Task {
  /** The local object id. */
  id: number;
  text: string | null;
  /** Milliseconds since the Unix epoch. */
  dateCreated: number | null;
  /** Milliseconds since the Unix epoch. */
  dateFinished: number | null;
  /** To-one relation to Project: the target's local id. */
  projectId: number | null;
  /** Sync clock, set by the store on every put. */
  syncClock: bigint | null;
}

/** Entity Project (ID 2, synced). */
export interface Project {
  /** The local object id. */
  id: number;
  name: string | null;
  color: number | null;
}

/** Entity names to their object types, for `LocalStore<Entities>`. */
export interface Entities {
  Task: Task;
  Project: Project;
}

/** The model file's text (schema hashes b09c7ccd1ea9804339218cb39a247bcc full, afe830e0daba35d9b44accea5b9efcbb base). */
export const MODEL_JSON = "{\n  \"_note1\": \"KEEP THIS FILE! Check it into a version control system (VCS) like git.\",\n  \"_note2\": \"ObjectBox manages crucial IDs for your object model. See docs for details.\",\n  \"_note3\": \"If you have VCS merge conflicts, you must resolve them according to ObjectBox docs.\",\n  \"entities\": [\n    {\n      \"id\": \"1:6645479796472661392\",\n      \"lastPropertyId\": \"6:3614515557037150255\",\n      \"name\": \"Task\",\n      \"flags\": 2,\n      \"properties\": [\n        {\n          \"id\": \"1:9211738071025439652\",\n          \"name\": \"id\",\n          \"type\": 6,\n          \"flags\": 1\n        },\n        {\n          \"id\": \"2:8804670454579230281\",\n          \"name\": \"text\",\n          \"type\": 9\n        },\n        {\n          \"id\": \"3:1260602348787983453\",\n          \"name\": \"dateCreated\",\n          \"type\": 10\n        },\n        {\n          \"id\": \"4:6240065879507520219\",\n          \"name\": \"dateFinished\",\n          \"type\": 10\n        },\n        {\n          \"id\": \"5:2843911409611442188\",\n          \"name\": \"projectId\",\n          \"indexId\": \"1:5027262815219744003\",\n          \"type\": 11,\n          \"flags\": 520,\n          \"relationTarget\": \"Project\"\n        },\n        {\n          \"id\": \"6:3614515557037150255\",\n          \"name\": \"syncClock\",\n          \"type\": 6,\n          \"flags\": 131072\n        }\n      ],\n      \"relations\": []\n    },\n    {\n      \"id\": \"2:4125913566180238541\",\n      \"lastPropertyId\": \"3:7386052251203402937\",\n      \"name\": \"Project\",\n      \"flags\": 2,\n      \"properties\": [\n        {\n          \"id\": \"1:1741591217736813722\",\n          \"name\": \"id\",\n          \"type\": 6,\n          \"flags\": 1\n        },\n        {\n          \"id\": \"2:8316702592862813063\",\n          \"name\": \"name\",\n          \"type\": 9\n        },\n        {\n          \"id\": \"3:7386052251203402937\",\n          \"name\": \"color\",\n          \"type\": 5\n        }\n      ],\n      \"relations\": []\n    }\n  ],\n  \"lastEntityId\": \"2:4125913566180238541\",\n  \"lastIndexId\": \"1:5027262815219744003\",\n  \"lastRelationId\": \"0:0\",\n  \"lastSequenceId\": \"0:0\",\n  \"modelVersion\": 5,\n  \"modelVersionParserMinimum\": 5,\n  \"retiredEntityUids\": [],\n  \"retiredIndexUids\": [],\n  \"retiredPropertyUids\": [],\n  \"retiredRelationUids\": [],\n  \"version\": 1\n}";

/** The parsed model. */
export const model: Model = Model.fromJson(MODEL_JSON);

/** Opens a typed store of this model on `storage`. */
export function openStore(storage: StorageAdapter): Promise<LocalStore<Entities>> {
  return LocalStore.open<Entities>(model, storage);
}
