-- A database written by mlnb 0.1.0 (schema revision 0001), as SQL.
-- Later releases must open and upgrade it: tests/integration/test_store.py.
BEGIN TRANSACTION;
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO "alembic_version" VALUES('0001');
CREATE TABLE model_events (
	id INTEGER NOT NULL, 
	project VARCHAR(128) NOT NULL, 
	model VARCHAR(128) NOT NULL, 
	time DATETIME NOT NULL, 
	actor VARCHAR(256) NOT NULL, 
	action VARCHAR(32) NOT NULL, 
	version VARCHAR(128), 
	details JSON NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "model_events" VALUES(1,'default','census','2026-11-22 05:44:01.954806','release-0.1.0','MODEL_CREATED',NULL,'{}');
INSERT INTO "model_events" VALUES(2,'default','census','2026-11-22 05:44:02.028206','release-0.1.0','VERSION_FAILED','v1','{"error": "No model file found: expected one of saved_model.pb, *.keras, model.bst, model.json, model.ubj, MLmodel (xgboost flavor), model.joblib, model.pkl, model.skops, MLmodel (sklearn flavor); found x.txt"}');
CREATE TABLE models (
	id INTEGER NOT NULL, 
	project VARCHAR(128) NOT NULL, 
	name VARCHAR(128) NOT NULL, 
	description TEXT NOT NULL, 
	labels JSON NOT NULL, 
	regions JSON NOT NULL, 
	online_prediction_logging BOOLEAN NOT NULL, 
	online_prediction_console_logging BOOLEAN NOT NULL, 
	default_version VARCHAR(128), 
	create_time DATETIME NOT NULL, 
	revision INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_models_project_name UNIQUE (project, name)
);
INSERT INTO "models" VALUES(1,'default','census','made by mlnb 0.1.0','{"team": "ml"}','[]',0,0,NULL,'2026-11-22 05:44:01.954806',1);
CREATE TABLE versions (
	id INTEGER NOT NULL, 
	model_id INTEGER NOT NULL, 
	name VARCHAR(128) NOT NULL, 
	description TEXT NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	framework VARCHAR(64), 
	deployment_uri TEXT NOT NULL, 
	artifact_uri TEXT, 
	files JSON NOT NULL, 
	runtime_version VARCHAR(32), 
	python_version VARCHAR(32), 
	error_message TEXT, 
	manual_scaling JSON, 
	auto_scaling JSON, 
	prediction_class TEXT, 
	package_uris JSON NOT NULL, 
	packages JSON NOT NULL, 
	machine_type VARCHAR(64), 
	labels JSON NOT NULL, 
	create_time DATETIME NOT NULL, 
	last_use_time DATETIME, 
	revision INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_versions_model_name UNIQUE (model_id, name), 
	FOREIGN KEY(model_id) REFERENCES models (id) ON DELETE RESTRICT
);
INSERT INTO "versions" VALUES(1,1,'v1','','FAILED',NULL,'/origin/bad',NULL,'{}',NULL,NULL,'No model file found: expected one of saved_model.pb, *.keras, model.bst, model.json, model.ubj, MLmodel (xgboost flavor), model.joblib, model.pkl, model.skops, MLmodel (sklearn flavor); found x.txt','null','null',NULL,'[]','[]',NULL,'{}','2026-11-22 05:44:01.964892',NULL,2);
CREATE INDEX ix_versions_model_id ON versions (model_id);
CREATE INDEX ix_model_events_model_time ON model_events (project, model, time);
COMMIT;
